"""Keep and compare, and the ten-seed spread, read off the page in chromium.

A student keeps a run, starts another seed and sees both; then runs ten
seeds and reads, per firm, the mean and range at the last month and how often
each firm came first: the same numbers :func:`dashboard.compare.run_seeds`
gives for that market.
"""

import re

import pytest
from playwright.sync_api import expect

from dashboard.compare import ENDING_HEADERS, ending, ending_rows, run_seeds
from dashboard.controls import ClassroomModel, initial_state
from tests.dashboard.browser import dashboard_server, open_page, step_to, typed_value

pytestmark = pytest.mark.slow

HORIZON = 6
SCENARIO = f"""\
name: short compare
description: A short market for the compare tests.
firms:
  - {{name: A, strategy: clasp}}
  - {{name: B, strategy: zipper}}
  - {{name: C, strategy: velcro}}
simulation: {{customers: 300, periods: {HORIZON}}}
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("compare") / "short.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(scenario):
    with dashboard_server(scenario.parent / "server.log", scenario) as (url, log_path, _):
        yield url, log_path


def compare_card(page):
    return page.locator(".v-card").filter(has=page.get_by_role("button", name="Keep this run"))


def test_a_kept_run_stays_under_the_next_one(served, browser):
    url, log_path = served
    context, page = open_page(browser, url)
    try:
        card = compare_card(page)
        assert card.locator("img").count() == 0  # nothing to compare yet
        step_to(page, 1)
        step_to(page, 2)
        page.get_by_role("button", name="Keep this run").click()
        kept = re.compile(r"Dashed: the kept run \(.*300 customers, seed 0, to month 2\)")
        card.get_by_text(kept).wait_for()
        card.locator("img").first.wait_for()

        # another seed: the kept run (seed 0) stays, drawn under the new one (seed 4)
        seed = typed_value(page, "Random seed")
        seed.fill("4")
        seed.press("Enter")
        page.get_by_role("button", name="Reset").click()
        card.get_by_text("Solid: this run (seed 4).").wait_for()
        assert card.get_by_text(kept).is_visible()
        before = card.locator("img").first.get_attribute("src")
        step_to(page, 1)
        # the picture follows the new run; the kept curves are still named
        page.wait_for_function(
            "([card, before]) => card.querySelector('img').getAttribute('src') !== before",
            arg=[card.element_handle(), before],
        )
        assert card.get_by_text(kept).is_visible()

        page.get_by_role("button", name="Clear").click()
        card.get_by_text(kept).wait_for(state="detached")
        assert card.locator("img").count() == 0
    finally:
        context.close()
    assert "Traceback" not in log_path.read_text(encoding="utf-8")


def spread_cells(page) -> dict[tuple[str, str], str]:
    cells = page.locator(".spread-value")
    return {
        (cell.get_attribute("data-firm"), cell.get_attribute("data-measure")): cell.inner_text()
        for cell in cells.all()
    }


def test_ten_seeds_show_the_spread_of_the_market_on_screen(served, browser, scenario):
    url, log_path = served
    context, page = open_page(browser, url)
    try:
        step_to(page, 1)
        page.get_by_role("button", name="Run 10 seeds").click()
        card = compare_card(page)
        card.get_by_text("Band and dotted mean: seeds 0 to 9 of this market.").wait_for(
            timeout=60_000
        )
        page.locator(".spread-value").first.wait_for()
        # done: the button takes a new click, the progress note is gone
        expect(page.get_by_role("button", name="Run 10 seeds")).to_be_enabled()
        expect(card.locator(".seed-progress")).to_have_count(0)
        shown = spread_cells(page)
        # the header names the table's columns and month
        assert card.get_by_text(
            f"Month {HORIZON}, seeds 0 to 9: mean (lowest–highest)"
        ).is_visible()
        for caption in ENDING_HEADERS:
            assert card.get_by_role("columnheader", name=caption).count() == 1
    finally:
        context.close()
    assert "Traceback" not in log_path.read_text(encoding="utf-8")

    # the same numbers as the functions give for the market on screen, seeds 0 to 9
    controls, sections, _ = initial_state(scenario)
    config = ClassroomModel(**controls, base=sections).config
    expected = {
        (firm, measure): text
        for firm, cells in ending_rows(ending(run_seeds(config)))
        for measure, text in zip(
            ["customers", "retention", "equity", "satisfied_share", "first"], cells, strict=True
        )
    }
    assert shown == expected
    assert {firm for firm, _ in shown} == {"A", "B", "C"}
    wins = [
        int(text.split(" of ")[0]) for (_, measure), text in shown.items() if measure == "first"
    ]
    assert sum(wins) >= 10  # every seed has a first firm (a tie counts for each)
