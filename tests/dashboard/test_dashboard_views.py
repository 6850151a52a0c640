"""The dashboard's figures and explanation, drawn from a small seeded model."""

import io

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from analysis import metrics, money
from dashboard.controls import DEFAULT_SECTIONS, ClassroomModel
from dashboard.views import (
    MONITORS,
    POPULATION_SAMPLE,
    SETTING_NOTES,
    STAGE_LABELS,
    determinants_figure,
    explanation,
    monitor_text,
    monitors,
    outcomes_figure,
    population_figure,
    population_sample,
    stage_figure,
)
from sim import SETTINGS, STRATEGIES

BASE = {**DEFAULT_SECTIONS, "simulation": {"customers": 400, "periods": 24}}


@pytest.fixture(scope="module")
def stepped():
    model = ClassroomModel(customers=400, base=BASE)
    for _ in range(6):
        model.step()
    return model


def test_every_setting_has_a_note_for_students():
    assert set(SETTING_NOTES) == set(SETTINGS)


def test_stage_figure_stacks_the_four_stages_for_each_firm(stepped):
    axes = stage_figure(stepped).axes
    firm_axes = [ax for ax in axes if ax.get_title().startswith("Firm")]
    assert [ax.get_title() for ax in firm_axes] == [
        "Firm A (clasp): customers",
        "Firm B (zipper): customers",
        "Firm C (velcro): customers",
    ]
    frame = stepped.firm_frame()
    for ax, name in zip(firm_axes, "ABC", strict=True):
        areas = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(areas) == len(STAGE_LABELS)
        # the top of the stack is the firm's customer count
        top = areas[-1].get_paths()[0].vertices[:, 1].max()
        assert (
            top
            == frame[frame["firm"] == name][["exploration", "formation", "stability", "decline"]]
            .sum(axis=1)
            .max()
        )


def test_outcomes_figure_draws_every_period_of_every_firm(stepped):
    axes = outcomes_figure(stepped).axes
    titles = [ax.get_title() for ax in axes]
    assert titles == [
        "Retention: share kept each month",
        "Leavers who were satisfied",
        "Customer equity so far",
        "Customers",
    ]
    equity = [line for line in axes[2].get_lines() if line.get_label().startswith("Firm")]
    assert [line.get_label() for line in equity] == ["Firm A", "Firm B", "Firm C"]
    frame = stepped.firm_frame()
    expected = frame[frame["firm"] == "B"]["discounted_profit"].cumsum().to_numpy()
    np.testing.assert_allclose(equity[1].get_ydata(), expected)
    assert len(axes[0].get_lines()[0].get_xdata()) == 6  # periods 1..6


def test_determinants_figure_shows_the_four_means(stepped):
    axes = determinants_figure(stepped).axes
    assert [ax.get_title() for ax in axes] == [
        "Value customers get (average)",
        "Satisfaction (average)",
        "Trust (average)",
        "Switching cost (average)",
    ]
    assert all(len(ax.get_lines()) == 3 for ax in axes)


def test_population_figure_draws_each_firms_customers_as_dots(stepped):
    figure = population_figure(stepped)
    customers = stepped.customers_frame()
    for ax, name in zip(figure.axes[:3], "ABC", strict=True):
        dots = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert len(dots) == 1
        assert len(dots[0].get_offsets()) == (customers["firm"] == name).sum()
        assert ax.get_title() == f"Firm {name}: {(customers['firm'] == name).sum()} customers"


def test_population_sample_is_bounded_stable_and_uses_no_randomness():
    assert len(population_sample(100)) == 100
    ids = population_sample(1_000_000)
    assert len(ids) == POPULATION_SAMPLE
    assert ids[0] == 0 and ids[-1] == 999_999
    assert np.array_equal(ids, population_sample(1_000_000))


def test_population_figure_samples_large_populations():
    model = ClassroomModel(customers=5_000, base=BASE)
    model.step()
    figure = population_figure(model)
    shown = sum(len(ax.collections[0].get_offsets()) for ax in figure.axes[:3])
    assert shown <= POPULATION_SAMPLE
    assert f"{POPULATION_SAMPLE} of 5000 shown" in figure.axes[3].texts[0].get_text()


def test_explanation_says_what_the_current_strategies_setting_and_levers_are():
    model = ClassroomModel(
        strategy_a="zipper",
        setting="ecommerce",
        word_of_mouth=2.0,
        price_c=1.5,
        customers=300,
        base=BASE,
    )
    model.step()
    text = "\n".join(f"{heading} {body}" for heading, body in explanation(model))
    assert "Month 1 of 24." in text
    assert f"Setting: ecommerce. {SETTING_NOTES['ecommerce']}" in text
    # a price control multiplies the strategy's own price
    zipper, velcro = (STRATEGIES[name].traits["price"] for name in ("zipper", "velcro"))
    assert f"Firm A runs zipper: {STRATEGIES['zipper'].summary}; price {zipper:.2f}." in text
    assert "Firm C runs velcro" in text and f"price {1.5 * velcro:.2f}" in text
    assert "word of mouth x2.0" in text
    for label in STAGE_LABELS.values():
        assert label in text


@pytest.mark.parametrize(
    "draw",
    [stage_figure, outcomes_figure, determinants_figure, population_figure],
    ids=lambda draw: draw.__name__,
)
def test_redrawing_into_the_same_figure_looks_like_drawing_a_new_one(draw):
    """The page reuses each figure after every step; nothing may linger from before."""
    model = ClassroomModel(customers=400, base=BASE)
    figure = draw(model)  # period 0: other limits, no retention yet
    for _ in range(14):  # into the second year: the time axes grow
        model.step()
    reused = draw(model, reuse=figure)
    assert reused is figure
    assert png(reused) == png(draw(model))


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_monitors_are_the_reports_measures_on_the_frames_so_far():
    model = ClassroomModel(customers=400, base=BASE)
    for _ in range(14):
        model.step()
    table = monitors(model)
    assert list(table.index) == ["A", "B", "C"] and list(table.columns) == list(MONITORS)
    ledger = model.firm_frame()
    now = ledger[ledger["period"] == 14].set_index("firm")
    stages = ["exploration", "formation", "stability", "decline"]
    assert (table[stages].sum(axis=1) == table["customers"]).all()
    assert (table["customers"] == now["customers"]).all()
    annual = metrics.annual_retention(model.cohort_frame())
    assert np.allclose(table["annual_retention"], annual.loc[table.index])
    assert table["annual_retention"].between(0, 1).all()
    clv = money.customer_clv(model.customers_frame(), ledger, model.config)
    assert np.allclose(table["customer_equity"], metrics.customer_equity(ledger, clv))
    shares = metrics.satisfied_defector_share(ledger).loc[table.index]
    assert np.allclose(table["satisfied_defector_share"], shares, equal_nan=True)
    assert monitor_text("annual_retention", 0.8349) == "83%"
    assert monitor_text("customer_equity", 12345.6) == "12,346"
    assert monitor_text("satisfied_defector_share", float("nan")) == "–"
