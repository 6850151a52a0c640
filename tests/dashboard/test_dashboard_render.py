"""The page of app.py, rendered and driven without a browser (solara.render)."""

import gc
import weakref
from pathlib import Path

import ipyvuetify as v
import ipywidgets
import pytest
import solara
from solara.server import kernel_context

ROOT = Path(__file__).resolve().parents[2]
SWITCHING = ROOT / "scenarios" / "teaching" / "what_switching_cost_buys.yaml"
PNG = b"\x89PNG"


def render(app: dict):
    """Render the page inside the app layout that `solara run` wraps it in."""
    _, rc = solara.render(solara.AppLayout(children=[app["Page"]()]), handle_error=False)
    return rc


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def page_text(rc) -> str:
    """All text in the page's HTML elements (the explanation panel)."""
    parts = []

    def collect(children):
        for child in children:
            if isinstance(child, str):
                parts.append(child)
            elif isinstance(child, v.Html):
                collect(child.children)

    for paragraph in rc.find(v.Html, tag="p").widgets:
        collect(paragraph.children)
    return " ".join(parts)


def images(rc) -> list[bytes]:
    return [bytes(image.widget.value) for image in rc.find(ipywidgets.Image)]


def select(rc, label: str) -> v.Select:
    return rc.find(v.Select, label=label).widget


@pytest.fixture
def default_app(load_app):
    return load_app()


def test_page_has_the_controls_the_plots_and_the_explanation(default_app):
    rc = render(default_app)
    for label in ("Reset", "▶", "Step"):
        rc.find(v.Btn, children=[label]).assert_single()
    assert [s.widget.label for s in rc.find(v.Select)] == [
        "Firm A: strategy",
        "Firm B: strategy",
        "Firm C: strategy",
        "Setting: where customers buy",
        "Teaching scenario",
    ]
    sliders = [s.widget.label for s in rc.find(v.Slider)]
    for label in (
        "Number of customers",
        "Switching-cost build-up (x usual)",
        "Wish for personal offers (x usual)",
        "Word of mouth (x usual)",
        "Firm B: price (1 = usual)",
        "Random seed (same seed, same run)",
    ):
        assert label in sliders
    pictures = images(rc)
    assert len(pictures) == 4
    assert all(picture.startswith(PNG) and len(picture) > 10_000 for picture in pictures)
    assert "Month 0 of 120." in page_text(rc)


def test_step_advances_the_model_and_redraws_every_panel(default_app):
    rc = render(default_app)
    before = images(rc)
    click(rc, "Step")
    click(rc, "Step")
    after = images(rc)
    assert len(after) == 4
    assert all(new != old for new, old in zip(after, before, strict=True))
    assert "Month 2 of 120." in page_text(rc)


def test_a_new_strategy_applies_on_reset(default_app):
    rc = render(default_app)
    click(rc, "Step")
    select(rc, "Firm A: strategy").v_model = "velcro"
    assert "Firm A runs clasp" in page_text(rc)  # not before Reset
    click(rc, "Reset")
    text = page_text(rc)
    assert "Firm A runs velcro" in text
    assert "Month 0 of 120." in text
    click(rc, "Step")
    assert "Month 1 of 120." in page_text(rc)


def test_a_scenario_sets_the_controls_start_values(load_app):
    app = load_app(SWITCHING)
    rc = render(app)
    assert select(rc, "Firm A: strategy").v_model == "zipper"
    assert select(rc, "Firm B: strategy").v_model == "zipper"
    # the price slider is a multiple of the firm's own price, which the scenario sets to 1.2
    price_b = rc.find(v.Slider, label="Firm B: price (1 = usual)").widget
    assert price_b.v_model == pytest.approx(1.0)
    text = page_text(rc)
    assert "switching-cost build-up x0.0" in text
    assert "Firms A and B both run the zipper strategy" in text
    assert "Firm B runs zipper" in text and "price 1.20" in text


def monitor_values(rc) -> dict[tuple[str, str], str]:
    """The monitors' numbers by (firm, measure), as the page shows them."""
    cells = rc.find(v.Html, tag="td", class_="monitor-value").widgets
    return {(c.attributes["data-firm"], c.attributes["data-measure"]): c.children[0] for c in cells}


def test_monitors_show_each_firms_numbers_and_follow_the_steps(default_app):
    rc = render(default_app)
    before = monitor_values(rc)
    assert {firm for firm, _ in before} == {"A", "B", "C"}
    assert before[("A", "customers")].replace(",", "").isdigit()
    assert before[("A", "annual_retention")] == "–"  # not before month 13
    for _ in range(13):
        click(rc, "Step")
    after = monitor_values(rc)
    assert after != before
    assert after[("A", "annual_retention")].endswith("%")


def test_each_session_builds_its_own_model_and_releases_it_when_it_closes(load_app, monkeypatch):
    import dashboard.page

    made = []

    class Recorded(dashboard.page.ClassroomModel):
        def __init__(self, **controls):
            super().__init__(**controls)
            made.append(weakref.ref(self))

    monkeypatch.setattr(dashboard.page, "ClassroomModel", Recorded)
    app = load_app()
    sessions = [kernel_context.create_dummy_context() for _ in range(2)]
    for session in sessions:
        with session:
            box, rc = solara.render(solara.AppLayout(children=[app["Page"]()]), handle_error=False)
            click(rc, "Step")
            rc.close()
    periods = [ref().period for ref in made]
    assert periods == [1, 1]  # each session stepped its own model once: none is shared
    for session in sessions:
        session.close()
    del box, rc
    gc.collect()
    assert [ref() for ref in made] == [None, None]


def test_the_picker_sets_an_exercises_controls_and_shows_its_text(default_app):
    rc = render(default_app)
    picker = select(rc, "Teaching scenario")
    assert picker.v_model == "the page's start (crm-sim classroom)"
    # each entry shows its exercise's title and is keyed by it (in English)
    exercise = next(i["value"] for i in picker.items if i["text"].startswith("Exercise 3"))
    picker.v_model = exercise
    text = page_text(rc)
    assert "Firm B charges 20% more than firm A" in text  # its question, from docs/teaching.md
    assert "What to vary:" in text
    assert select(rc, "Firm A: strategy").v_model == "zipper"  # the controls, set
    assert "Firm A runs clasp" in text  # the model changes on Reset, as with any control
    assert "Firms A and B both run the zipper strategy" not in text  # its description
    click(rc, "Reset")
    text = page_text(rc)
    assert "Firm A runs zipper" in text and "price 1.20" in text
    assert "Firms A and B both run the zipper strategy" in text  # the panel follows the model
    # back to where the page started
    select(rc, "Teaching scenario").v_model = "the page's start (crm-sim classroom)"
    click(rc, "Reset")
    assert "Firm A runs clasp" in page_text(rc)


def test_a_kept_run_is_drawn_beside_the_panels_and_survives_a_reset(default_app):
    rc = render(default_app)
    assert len(images(rc)) == 4
    click(rc, "Step")
    click(rc, "Keep this run")
    assert len(images(rc)) == 5
    assert "Dashed: the kept run (" in page_text(rc)
    assert "seed 0, to month 1)" in page_text(rc)
    click(rc, "Reset")
    assert len(images(rc)) == 5
    assert "to month 1)" in page_text(rc)
    click(rc, "Clear")
    assert len(images(rc)) == 4
