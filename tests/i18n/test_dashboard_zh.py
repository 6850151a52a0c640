"""The dashboard's figures and texts in Chinese: every word from the catalog, every glyph drawn.

The page itself is read in chromium by tests/dashboard/test_dashboard_language_browser.py;
here, without a browser, each figure the page shows is drawn in Chinese and all its text
checked, and the texts the page builds outside the catalog's strings (strategy summaries
from sim, the exercises from docs/teaching.zh.md).
"""

import io
import re
import warnings

import pytest
from matplotlib.text import Text

import i18n
from dashboard import compare, exercises, follow, views
from dashboard.controls import DEFAULT_SECTIONS, ClassroomModel, check_control, model_params
from sim import STRATEGIES

FIRMS = {"A", "B", "C"}


@pytest.fixture(scope="module")
def model():
    classroom = ClassroomModel(customers=400, seed=1, base=DEFAULT_SECTIONS)
    for _ in range(14):  # past a year: the annual retention shows in the legend
        classroom.step()
    return classroom


def english(texts) -> list[str]:
    """Words of two or more Latin letters in ``texts``."""
    return [word for text in texts for word in re.findall(r"[A-Za-z]{2,}", text)]


def drawn(figure) -> tuple[list[str], list[str]]:
    """The figure's texts, and matplotlib's missing-glyph warnings on drawing it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.savefig(io.BytesIO(), format="png")
    texts = [t.get_text() for t in figure.findobj(Text) if t.get_text()]
    return texts, [str(w.message) for w in caught if "missing from font" in str(w.message)]


def figures(model, lang):
    history = model.history_frame()
    identity = int(history["identity"].iloc[0])
    months = follow.customer_history(history, identity)
    found = follow.events(history, identity, 0.5, lang)
    curves = compare.curves(model)
    return {
        "stages": views.stage_figure(model, lang=lang),
        "outcomes": views.outcomes_figure(model, lang=lang),
        "determinants": views.determinants_figure(model, lang=lang),
        "population": views.population_figure(model, lang=lang),
        "compare": compare.compare_figure(curves, curves, lang=lang),
        "follow": follow.follow_figure(months, found, 0.5, 120, lang=lang),
    }


def test_every_figure_speaks_chinese_with_every_glyph_drawn(model):
    for name, figure in figures(model, "zh").items():
        texts, missing = drawn(figure)
        assert any(re.search(r"[\u4e00-\u9fff]", text) for text in texts), name
        assert english(texts) == [], name
        assert missing == [], name


def test_the_english_figures_are_drawn_as_before(model):
    """English text keeps matplotlib's own font: no family set on any text."""
    for name, figure in figures(model, "en").items():
        texts, _ = drawn(figure)
        assert "Firm A" in " ".join(texts) or name == "follow", name
        assert all(t.get_fontfamily() == ["sans-serif"] for t in figure.findobj(Text)), name


def test_the_chinese_figures_would_miss_glyphs_without_the_font(model):
    """The glyph check above can fail: the same figure with its fonts left as in English."""
    figure = views.stage_figure(model, lang="zh")
    for text in figure.findobj(Text):
        text.set_fontfamily(["DejaVu Sans"])
    assert drawn(figure)[1]


def test_the_page_texts_in_chinese(model):
    texts = [text for pair in views.explanation(model, "zh") for text in pair]
    texts += [views.monitor_text("annual_retention", 0.5, "zh")]
    texts += compare.describe(model, "zh").split(", ")
    spec = model_params(model.controls, DEFAULT_SECTIONS, "zh")
    texts += [options["label"] for options in spec.values() if "label" in options]
    texts += [text for options in spec.values() if "texts" in options for text in options["texts"]]
    history = model.history_frame()
    texts += [told.text for told in follow.telling(history, 0.5, False, "zh")]
    texts += [follow.now_text(history.iloc[-1], "zh")]
    assert english(texts) == [], texts
    assert set(spec["strategy_a"]["texts"]) == {"扣钩", "拉链", "维可牢"}


def test_a_refused_value_is_said_in_chinese_with_the_controls_label():
    with pytest.raises(ValueError) as refused:
        check_control("customers", "50000", "zh", "客户数量")
    assert str(refused.value) == "客户数量：'50000' 超出范围；允许：从 200 到 20000 的整数"
    with pytest.raises(ValueError, match=r"^customers: '50000' is out of range; allowed: a"):
        check_control("customers", "50000")


def test_the_strategies_summaries_from_sim_are_in_the_catalog():
    """sim speaks to no user: the page marks its summaries; they must stay the same text."""
    summaries = {strategy.summary for strategy in STRATEGIES.values()}
    assert summaries == set(views.STRATEGY_SUMMARIES)
    _ = i18n.translator("zh")
    assert all(_(summary) != summary for summary in summaries)


def test_the_picker_reads_the_exercises_of_the_chinese_guide():
    english_guide = exercises.exercises(exercises.GUIDES["en"], "en")
    chinese_guide = exercises.exercises(exercises.GUIDES["zh"], "zh")
    assert list(chinese_guide) == list(english_guide)  # the same scenarios, in the same order
    for path, exercise in chinese_guide.items():
        assert exercise["title"].startswith("练习"), path
        assert exercise["question"] and exercise["vary"], path
        assert re.search(r"[\u4e00-\u9fff]", exercise["question"]), path
