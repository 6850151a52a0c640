"""The dashboard in a real browser: Debian's chromium driven by Playwright.

Starts ``app.py`` with Solara on a free port of 127.0.0.1, steps the model,
changes a firm's strategy, and checks that the plots and the population view
were drawn with data, that no request left this machine and that no asset was
missing. Never downloads a browser: it uses the system's chromium; without one it
fails in CI and skips elsewhere (tests/dashboard/browser.py).
"""

import io
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from dashboard.views import STAGE_COLOURS
from tests.dashboard.browser import UI_TIMEOUT, dashboard_server, launch_chromium

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT = 85.0  # seconds for the whole test, server start included
# the panels' images, in page order
STAGES, OUTCOMES, DETERMINANTS, POPULATION = range(4)


@pytest.fixture
def server(tmp_path):
    """The dashboard served on 127.0.0.1; yields URL, log file, start time; always stopped."""
    started = time.monotonic()
    with dashboard_server(tmp_path / "server.log") as (url, log_path, _):
        yield url, log_path, started


def pixels(png: bytes) -> np.ndarray:
    """The picture as an (n, 3) array of RGB values."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int).reshape(-1, 3)


def coloured_pixels(png: bytes) -> int:
    """Pixels of clearly saturated colour (plot data), not white, grey or black (axes, text)."""
    rgb = pixels(png)
    return int(((rgb.max(axis=1) - rgb.min(axis=1)) > 40).sum())


def stage_colour_pixels(png: bytes) -> int:
    """Pixels close to one of the stage colours (the stacked areas)."""
    rgb = pixels(png)
    targets = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in STAGE_COLOURS.values()])
    distance = np.abs(rgb[:, None, :] - targets[None, :, :]).sum(axis=2)
    return int((distance.min(axis=1) < 60).sum())


def test_dashboard_in_chromium(server, tmp_path):
    url, log_path, started = server
    origin = urlsplit(url).netloc
    outside, failed = [], []
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        page.set_default_timeout(UI_TIMEOUT)

        def guard(route):
            target = urlsplit(route.request.url)
            if target.scheme in ("http", "https", "ws", "wss") and target.netloc != origin:
                outside.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        page.route("**/*", guard)
        page.on(
            "response",
            lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(url)

        step = page.get_by_role("button", name="Step")
        step.wait_for()
        for period in (1, 2, 3):
            step.click()
            page.get_by_text(f"Time: {period}.0").wait_for()
            page.get_by_text(f"Month {period} of 120.").wait_for()

        # a new strategy for firm A applies on Reset
        page.locator(".v-select").filter(has_text="Firm A: strategy").click()
        page.get_by_role("option", name="zipper").click()
        page.get_by_role("button", name="Reset").click()
        page.get_by_text("Firm A runs zipper:").wait_for()
        for period in (1, 2, 3):
            step.click()
            page.get_by_text(f"Time: {period}.0").wait_for()
        page.get_by_text("Month 3 of 120.").wait_for()

        for text in (
            "Firm A: strategy",
            "Setting: where customers buy",
            "Number of customers",
            "Switching-cost build-up (x usual)",
            "Setting: traditional.",
            "Firm B runs zipper:",
            "stability: loyal",
        ):
            assert page.get_by_text(text).first.is_visible(), text

        plots = page.locator("img")
        assert plots.count() == 4
        pictures = []
        for index in range(4):
            plot = plots.nth(index)
            box = plot.bounding_box()
            assert box and box["width"] > 300 and box["height"] > 200, box
            pictures.append(plot.screenshot())
        # plots with data: stacked areas in the stage colours, dots and lines in colour
        # (the legends alone colour about 200 pixels)
        assert stage_colour_pixels(pictures[STAGES]) > 3_000
        assert coloured_pixels(pictures[POPULATION]) > 600
        assert coloured_pixels(pictures[OUTCOMES]) > 500
        assert coloured_pixels(pictures[DETERMINANTS]) > 500

        page.screenshot(path=tmp_path / "dashboard.png", full_page=True)

    assert not outside, f"requests left this machine: {outside}"
    assert not failed, f"requests failed: {failed}"
    log = log_path.read_text(encoding="utf-8")
    assert "Could not load URL" not in log, log
    assert "Traceback" not in log, log
    assert time.monotonic() - started < TIME_LIMIT
