"""The dashboard as a class uses it, in chromium: one market per student, checked inputs.

Two browser contexts (two students) drive two independent models; a typed
value out of range is refused on the page and never reaches the model; the
month counter stops at the horizon; the monitors change with a step; and the
server refuses a websocket from another origin.
"""

import http.client
import re
import secrets
from base64 import b64encode
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.dashboard.browser import UI_TIMEOUT, dashboard_server, open_page, step_to, typed_value

pytestmark = pytest.mark.slow

HORIZON = 4
SCENARIO = f"""\
name: short class
description: A short market for the classroom tests.
firms:
  - {{name: A, strategy: clasp}}
  - {{name: B, strategy: zipper}}
  - {{name: C, strategy: velcro}}
simulation: {{customers: 400, periods: {HORIZON}}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module, with a short horizon so that Play reaches the end."""
    folder = tmp_path_factory.mktemp("classroom")
    scenario = folder / "short.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    with dashboard_server(folder / "server.log", scenario) as (url, log_path, _):
        yield url, log_path


def monitor_numbers(page, month: int) -> dict[str, str]:
    """The monitors' cells once every one of them is month ``month``'s."""
    cells = page.locator(".monitor-value")
    page.locator(f".monitor-value[data-period='{month}']").first.wait_for()
    expect(page.locator(f".monitor-value:not([data-period='{month}'])")).to_have_count(
        0, timeout=UI_TIMEOUT
    )
    return {
        f"{cell.get_attribute('data-firm')}/{cell.get_attribute('data-measure')}": cell.inner_text()
        for cell in cells.all()
    }


def test_two_students_drive_two_independent_markets(served, browser):
    url, log_path = served
    first_context, first = open_page(browser, url)
    second_context, second = open_page(browser, url)
    try:
        step_to(first, 1)
        step_to(first, 2)
        first.get_by_text("Month 2 of 4.").wait_for()
        assert second.get_by_text("Month 0 of 4.").is_visible()
        # one market each: the second student's first step is their month 1, not month 3
        step_to(second, 1)
        second.get_by_text("Month 1 of 4.").wait_for()
        step_to(first, 3)

        # the second student sets another seed: their market, not the first one's, changes
        seed = typed_value(second, "Random seed")
        seed.fill("7")
        seed.press("Enter")
        second.get_by_role("button", name="Reset").click()
        second.get_by_text("400 customers, seed 7.").wait_for()
        step_to(second, 1)
        step_to(second, 2)
        assert first.get_by_text("400 customers, seed 0.").is_visible()
        assert monitor_numbers(first, 3) != monitor_numbers(second, 2)
        # the first student's market was left where it was
        first.get_by_text("Time: 3.0").wait_for()
    finally:
        first_context.close()
        second_context.close()
    assert "Traceback" not in log_path.read_text(encoding="utf-8")


def test_a_typed_value_out_of_range_is_refused_and_never_reaches_the_model(served, browser):
    url, _ = served
    context, page = open_page(browser, url)
    try:
        customers = typed_value(page, "Number of customers")
        assert customers.input_value() == "400"  # the slider's value, shown
        customers.fill("50000")
        customers.press("Enter")
        page.get_by_text(re.compile(r"Refused: customers: '50000' is out of range")).wait_for()
        page.get_by_role("button", name="Reset").click()
        page.get_by_text("Month 0 of 4.").wait_for()
        assert page.get_by_text("400 customers, seed 0.").is_visible()

        customers.fill("600")
        customers.press("Enter")
        page.get_by_role("button", name="Reset").click()
        page.get_by_text("600 customers, seed 0.").wait_for()
        assert not page.get_by_text("Refused:").count()

        page.get_by_role("button", name="Back to the scenario's values").click()
        page.get_by_role("button", name="Reset").click()
        page.get_by_text("400 customers, seed 0.").wait_for()
    finally:
        context.close()


def test_the_counter_stops_at_the_horizon_and_the_monitors_follow(served, browser):
    url, _ = served
    context, page = open_page(browser, url)
    try:
        before = monitor_numbers(page, 0)
        assert before["A/annual_retention"] == "–"
        assert before["A/customers"].replace(",", "").isdigit()
        step_to(page, 1)
        page.get_by_text("Monitors: month 1").wait_for()
        after = monitor_numbers(page, 1)
        assert after != before
        page.get_by_role("button", name="▶").click()
        page.get_by_text(f"Month {HORIZON} of {HORIZON}.").wait_for()
        page.get_by_text(f"Monitors: month {HORIZON}").wait_for()
        page.wait_for_timeout(1_000)  # the play loop has stopped; nothing more may come
        assert page.get_by_text(f"Time: {HORIZON}.0").is_visible()
        assert page.get_by_role("button", name="Step").is_disabled()
    finally:
        context.close()


def websocket_handshake(url: str, origin: str | None) -> int:
    """The HTTP status of a websocket handshake to the page's kernel channel."""
    target = urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": b64encode(secrets.token_bytes(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    if origin is not None:
        headers["Origin"] = origin
    kernel = secrets.token_hex(8)
    try:
        connection.request(
            "GET",
            f"/jupyter/api/kernels/{kernel}/channels?session_id={kernel}",
            headers=headers,
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_cross_origin_websocket_is_refused(served):
    url, _ = served
    own = f"http://{urlsplit(url).netloc}"
    assert websocket_handshake(url, "http://evil.example") == 403
    assert websocket_handshake(url, "http://127.0.0.1:1") == 403  # same host, other port
    assert websocket_handshake(url, own) == 101
