"""A browser test that cannot run fails in CI and skips, saying why, elsewhere."""

import pytest

from tests.dashboard import browser


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_in_ci_a_browser_test_that_cannot_run_fails(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true and the browser test cannot run"):
        browser.unavailable("no chromium")


@pytest.mark.parametrize("value", [None, "", "false"])
def test_elsewhere_it_skips_and_says_why(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(
        pytest.skip.Exception, match=r"no chromium \(in CI, with CI=true, this fails"
    ):
        browser.unavailable("no chromium")


def test_a_missing_chromium_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(browser, "CHROMIUM", None)
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        browser.require_chromium()


def test_ci_runs_the_tests_with_ci_set():
    lines = (browser.ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "export CI=true" in lines
    assert lines.index("export CI=true") < next(
        i for i, line in enumerate(lines) if line.startswith("python3.12 -m venv")
    )
