"""Shared fixtures of the dashboard tests."""

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def browser():
    """Chromium for a module's browser tests; fails in CI and skips elsewhere if it cannot run.

    (:func:`tests.dashboard.browser.launch_chromium`.)
    """
    from tests.dashboard.browser import launch_chromium

    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def load_app(monkeypatch):
    """Run app.py afresh (as Solara does) with or without a scenario; return its globals."""

    def load(scenario: Path | None = None) -> dict:
        if scenario is None:
            monkeypatch.delenv("CRM_SIM_SCENARIO", raising=False)
        else:
            monkeypatch.setenv("CRM_SIM_SCENARIO", str(scenario))
        return runpy.run_path(str(ROOT / "app.py"))

    return load
