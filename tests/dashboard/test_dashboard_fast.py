"""The dashboard in chromium: Play answers, monitors every month, a class's screens, memory.

* after ten quick clicks on ▶, Pause stops the month counter within a second
  and the page still steps one month at a time;
* during Play the monitors show every month, one after another;
* at 1400x1000, 1366x768 and 1024x768 nothing scrolls sideways and the plots
  are shown at (nearly) the size they are drawn (docs/screenshots.py's pages);
* the server's memory after twenty sessions opened and closed is within
  100 MB of what it was after the first.

How long Play takes is measured by ``python -m benchmarks.dashboard``, not here.
"""

import importlib.util
import re
import time

import pytest

from tests.dashboard.browser import (
    ROOT,
    dashboard_server,
    open_page,
    resident_mb,
)

pytestmark = pytest.mark.slow

HORIZON = 18
SCENARIO = f"""\
name: play test
description: A small market that plays to its end quickly.
firms:
  - {{name: A, strategy: clasp}}
  - {{name: B, strategy: zipper}}
  - {{name: C, strategy: velcro}}
simulation: {{customers: 400, periods: {HORIZON}}}
"""
PAUSE_SECONDS = 1.0
PLAY_TIMEOUT = 120_000  # milliseconds for Play to the horizon on a busy machine
SESSIONS = 20
MEMORY_MB = 100


@pytest.fixture(scope="module")
def default_server(tmp_path_factory):
    """The dashboard with its default market (2,000 customers, 120 months)."""
    folder = tmp_path_factory.mktemp("fast")
    with dashboard_server(folder / "server.log") as served:
        yield served


@pytest.fixture(scope="module")
def short_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("short")
    scenario = folder / "short.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    with dashboard_server(folder / "server.log", scenario) as served:
        yield served


def month(page) -> int:
    """The month counter (Mesa's "Time: N.0")."""
    text = page.get_by_text(re.compile(r"^Time: \d+\.0$")).first.inner_text()
    return int(float(text.split()[1]))


def play_pause(page):
    """The middle button: ▶ while paused, ❚❚ while playing."""
    return page.locator("button").filter(has_text=re.compile("▶|❚❚"))


def test_after_ten_quick_play_clicks_pause_stops_the_counter_within_a_second(
    default_server, browser
):
    url, log_path, _ = default_server
    context, page = open_page(browser, url, height=1200)
    try:
        button = play_pause(page)
        for _ in range(10):
            button.click(delay=0, no_wait_after=True)
        # ten clicks: playing, paused, ..., paused; then play once more and let it run
        page.get_by_role("button", name="▶").wait_for()
        page.get_by_role("button", name="▶").click()
        page.get_by_role("button", name="❚❚").wait_for()
        start = month(page)
        page.wait_for_function(
            f"() => /Time: (\\d+)/.exec(document.body.innerText)[1] >= {start + 2}"
        )
        page.get_by_role("button", name="❚❚").click()
        page.wait_for_timeout(PAUSE_SECONDS * 1000)
        stopped = month(page)
        page.get_by_role("button", name="▶").wait_for()
        page.wait_for_timeout(2_000)
        assert month(page) == stopped, "the counter went on more than a second after Pause"
        assert stopped < 120

        # not frozen: Step moves one month at a time
        page.get_by_role("button", name="Step").click()
        page.get_by_text(f"Time: {stopped + 1}.0", exact=True).wait_for()
        page.get_by_text(f"Month {stopped + 1} of 120.").wait_for()
    finally:
        context.close()
    assert "Traceback" not in log_path.read_text(encoding="utf-8")


RECORD_MONTHS = """() => {
    window.monitorMonths = [];
    const seen = () => {
        const found = /Monitors: month (\\d+)/.exec(document.body.innerText);
        const last = window.monitorMonths[window.monitorMonths.length - 1];
        if (found && Number(found[1]) !== last) window.monitorMonths.push(Number(found[1]));
    };
    new MutationObserver(seen).observe(
        document.body, {subtree: true, childList: true, characterData: true});
    seen();
}"""
"""Record every month the monitors' heading shows, in order, as the page changes."""


def test_the_monitors_show_every_month_during_play(short_server, browser):
    url, log_path, _ = short_server
    context, page = open_page(browser, url, height=1200)
    try:
        page.evaluate(RECORD_MONTHS)
        page.get_by_role("button", name="▶").click()
        page.get_by_text(f"Month {HORIZON} of {HORIZON}.").wait_for(timeout=PLAY_TIMEOUT)
        page.get_by_text(f"Monitors: month {HORIZON}").wait_for()
        shown = page.evaluate("() => window.monitorMonths")
        assert shown == list(range(HORIZON + 1)), shown
        # play has stopped at the end; the panels show the last month
        page.get_by_role("button", name="▶").wait_for()
        assert page.get_by_role("button", name="▶").is_disabled()
    finally:
        context.close()
    assert "Traceback" not in log_path.read_text(encoding="utf-8")


def load_screenshots():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "docs" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_fits_a_class_s_screens_without_sideways_scrolling(
    default_server, browser, tmp_path
):
    url, _, _ = default_server
    screenshots = load_screenshots()
    layouts = screenshots.dashboard_screenshots(browser, url, tmp_path, months=2)
    assert set(layouts) == {f"{w}x{h}" for w, h in screenshots.SCREENS}
    for name, layout in layouts.items():
        assert layout["page"] <= layout["viewport"], (name, layout)
        assert not layout["scrolling"], (name, layout)
        assert layout["fits"]
        # readable: every plot shown at 85% or more of the size it was drawn at
        assert len(layout["plots"]) == 4, (name, layout)
        for shown, drawn in layout["plots"]:
            assert shown >= 0.85 * drawn, (name, layout)
        assert (tmp_path / f"dashboard_{name}.png").stat().st_size > 20_000


def test_server_memory_after_twenty_sessions_stays_within_100_mb_of_the_first(
    default_server, browser
):
    url, log_path, pid = default_server
    sizes = []
    for _ in range(SESSIONS):
        context, page = open_page(browser, url, height=1200)
        for period in (1, 2, 3):
            page.get_by_role("button", name="Step").click()
            page.get_by_text(f"Time: {period}.0", exact=True).wait_for()
        page.close(run_before_unload=True)  # as a student closing the tab
        context.close()
        time.sleep(1.0)  # the server closes the session's kernel
        sizes.append(resident_mb(pid))
    assert sizes[-1] - sizes[0] <= MEMORY_MB, [round(size) for size in sizes]
    assert "Traceback" not in log_path.read_text(encoding="utf-8")
