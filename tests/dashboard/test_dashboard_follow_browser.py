"""Follow a customer in chromium: the page shows what the model did to the customer picked.

The server runs its own model; the test builds the same one in this process
(same scenario, same seed: the same run) and reads the page against it: the
telling customers offered, the chosen customer's month in words after each
step, and the events listed.
"""

import re

import pytest
from playwright.sync_api import expect

from dashboard import follow
from dashboard.controls import ClassroomModel, initial_state
from tests.dashboard.browser import UI_TIMEOUT, dashboard_server, open_page, step_to

pytestmark = pytest.mark.slow

HORIZON = 12
SCENARIO = f"""\
name: follow a customer
description: A short market where firm A wins back former customers.
firms:
  - {{name: A, strategy: clasp, policies: [{{name: win_back, budget: 50}}]}}
  - {{name: B, strategy: zipper}}
  - {{name: C, strategy: velcro}}
simulation: {{customers: 400, periods: {HORIZON}}}
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = tmp_path_factory.mktemp("follow")
    path = folder / "follow.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def same_model(scenario, months: int) -> ClassroomModel:
    """The page's model, built here as the page builds it, run ``months`` months."""
    controls, sections, _ = initial_state(scenario)
    return ClassroomModel(**controls, base=sections).run(months)


def telling(model) -> dict[str, follow.Telling]:
    threshold = model.config.simulation.satisfied_threshold
    found = follow.telling(model.history_frame(), threshold, follow.runs_win_back(model))
    return {t.label: t for t in found if t.identity is not None}


def offered(page) -> dict[str, int]:
    """The telling customers' buttons on the page: label -> customer id."""
    found = {}
    pattern = re.compile(r"^(.+): customer (\d+)$")
    buttons = page.get_by_role("button", name=re.compile(r": customer \d+$"))
    buttons.first.wait_for()
    for button in buttons.all():
        label, identity = pattern.match(button.text_content().strip()).groups()
        found[label.strip().lower()] = int(identity)
    return found


def now_line(page, identity: int, month: int) -> str:
    line = page.locator(f".follow-now[data-customer='{identity}'][data-period='{month}']")
    line.wait_for()
    return line.inner_text().strip()


def expected_line(model, identity: int) -> str:
    months = follow.customer_history(model.history_frame(), identity)
    return f"Customer {identity}, {follow.now_text(months.iloc[-1])}"


def test_follow_a_customer_in_chromium(scenario, browser, tmp_path):
    with dashboard_server(tmp_path / "server.log", scenario) as (url, log_path, _):
        context, page = open_page(browser, url)
        try:
            find = page.get_by_role("button", name="Find customers worth following")

            # month 1: the telling customers offered are the model's; follow the longest one
            step_to(page, 1)
            find.click()
            page.get_by_text("Among the customers followed, up to month 1:").wait_for()
            model = same_model(scenario, 1)
            expected = {label.lower(): t.identity for label, t in telling(model).items()}
            assert offered(page) == expected
            longest = expected["longest relationship"]
            page.get_by_role("button", name=f"Longest relationship: customer {longest}").click()
            assert now_line(page, longest, 1) == expected_line(model, longest)

            # month by month: the line follows the model
            step_to(page, 2)
            assert now_line(page, longest, 2) == expected_line(same_model(scenario, 2), longest)

            # at the horizon: the one who left while satisfied, and their events
            page.get_by_role("button", name="▶").click()
            page.get_by_text(f"Month {HORIZON} of {HORIZON}.").wait_for()
            now_line(page, longest, HORIZON)
            find.click()
            page.get_by_text(f"Among the customers followed, up to month {HORIZON}:").wait_for()
            model = same_model(scenario, HORIZON)
            told = telling(model)
            assert {"Longest relationship", "Left while satisfied", "Won back"} <= set(told)
            assert offered(page) == {label.lower(): t.identity for label, t in told.items()}
            for label in ("Left while satisfied", "Won back"):
                identity = told[label].identity
                page.get_by_role("button", name=f"{label}: customer {identity}").click()
                assert now_line(page, identity, HORIZON) == expected_line(model, identity)
                threshold = model.config.simulation.satisfied_threshold
                events = follow.events(model.history_frame(), identity, threshold)
                # the month line and the event list reach the browser as separate
                # updates: wait until the list is this customer's, not the one before's
                listed = page.locator(".follow-event")
                expect(listed).to_have_text(
                    [f"month {e.period}: {e.kind}: {e.text}" for e in events], timeout=UI_TIMEOUT
                )
                kinds = {item.get_attribute("data-kind") for item in listed.all()}
                assert ("defection" if label.startswith("Left") else "win-back") in kinds

            # by id: a customer not followed so far is followed from now; a wrong id is refused
            tracked = set(model.history_frame()["identity"])
            other = int(next(i for i in model.customers.identity if int(i) not in tracked))
            typed = page.get_by_label("customer id")
            typed.fill(str(other))
            typed.press("Enter")
            page.get_by_role("button", name="Follow", exact=True).click()
            page.get_by_text(f"Customer {other} is followed from month {HORIZON}.").wait_for()
            assert now_line(page, other, HORIZON) == (
                f"Customer {other}, "
                + follow.now_text(
                    follow.customer_history(_followed_now(model, other), other).iloc[-1]
                )
            )
            typed.fill("abc")
            typed.press("Enter")
            page.get_by_role("button", name="Follow", exact=True).click()
            page.get_by_text("Refused: 'abc' is not a customer id (a whole number).").wait_for()
        finally:
            context.close()
    assert "Traceback" not in log_path.read_text(encoding="utf-8")


def _followed_now(model, identity: int):
    follow.pick(model, str(identity))
    return model.history_frame()
