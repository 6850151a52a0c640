"""The dashboard's figures and explanation, drawn from a small seeded model."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.image import AxesImage

from analysis import metrics, money
from dashboard.controls import DEFAULT_SECTIONS, ClassroomModel
from dashboard.views import (
    MONITORS,
    POPULATION_BINS,
    SETTING_NOTES,
    STAGE_LABELS,
    determinants_figure,
    explanation,
    monitor_text,
    monitors,
    outcomes_figure,
    population_figure,
    population_grid,
    population_image,
    stage_figure,
)
from sim import SETTINGS, STRATEGIES, Stage

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


def test_population_figure_counts_every_customer_of_each_firm(stepped):
    figure = population_figure(stepped)
    customers = stepped.customers_frame()
    for ax, name in zip(figure.axes[:3], "ABC", strict=True):
        (picture,) = [image for image in ax.get_images() if isinstance(image, AxesImage)]
        assert picture.get_array().shape == (POPULATION_BINS, POPULATION_BINS, 3)
        assert not ax.collections  # no dots: the picture is made of counts
        assert ax.get_title() == f"Firm {name}: {(customers['firm'] == name).sum()} customers"
    assert "All 400 customers counted" in figure.axes[3].texts[0].get_text()


def test_population_grid_counts_each_customer_once_in_its_square_and_stage():
    satisfaction = np.array([0.0, 0.04, 0.99, 1.0, 0.51])
    switching_cost = np.array([0.0, 0.01, 1.0, 0.97, 0.26])
    stages = np.array([Stage.EXPLORATION, Stage.EXPLORATION, Stage.DECLINE, Stage.STABILITY, 1])
    grid = population_grid(satisfaction, switching_cost, stages)
    assert grid.shape == (len(Stage), POPULATION_BINS, POPULATION_BINS)
    assert grid.sum() == 5
    last = POPULATION_BINS - 1
    assert grid[Stage.EXPLORATION, 0, 0] == 2  # both in the first square
    assert grid[Stage.DECLINE, last, last] == 1 and grid[Stage.STABILITY, last, last] == 1
    assert grid[1, int(0.26 * POPULATION_BINS), int(0.51 * POPULATION_BINS)] == 1


def test_population_image_is_white_where_empty_and_strongest_where_most():
    counts = np.zeros((len(Stage), POPULATION_BINS, POPULATION_BINS), dtype=int)
    counts[Stage.STABILITY, 0, 0] = 100
    counts[Stage.STABILITY, 0, 1] = 25
    counts[Stage.DECLINE, 0, 2] = 50
    counts[Stage.STABILITY, 0, 2] = 50
    image = population_image(counts, most=100)
    assert np.allclose(image[5, 5], 1.0)  # empty: white
    green = np.array([0x31, 0xA3, 0x54]) / 255
    assert np.allclose(image[0, 0], green)  # the fullest square: the stage's own colour
    assert np.allclose(image[0, 1], 1.0 - 0.5 * (1.0 - green))  # a quarter as many: half as strong
    orange = np.array([0xE6, 0x55, 0x0D]) / 255
    assert np.allclose(image[0, 2], (green + orange) / 2)  # two stages, half each: mixed


def test_population_figure_counts_large_populations_whole():
    model = ClassroomModel(customers=5_000, base=BASE)
    model.step()
    figure = population_figure(model)
    titles = [ax.get_title() for ax in figure.axes[:3]]
    counted = sum(int(title.split(": ")[1].split()[0]) for title in titles)
    assert counted == model.customers_frame()["firm"].notna().sum()
    assert "All 5000 customers counted" in figure.axes[3].texts[0].get_text()


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
    base = {**BASE, "simulation": {"customers": 400, "periods": 30}}
    model = ClassroomModel(customers=400, base=base)
    stages = ["exploration", "formation", "stability", "decline"]
    # from the arrays (the monitors) and from the frames (the report): the same numbers, as
    # shown and to rounding, before and after the first defections and the first year
    for month in range(31):
        if month:
            model.step()
        if month not in (0, 1, 5, 13, 14, 25, 30):
            continue
        table = monitors(model)
        assert list(table.index) == ["A", "B", "C"] and list(table.columns) == list(MONITORS)
        ledger = model.firm_frame()
        now = ledger[ledger["period"] == month].set_index("firm")
        assert (table[stages].sum(axis=1) == table["customers"]).all()
        assert (table["customers"] == now["customers"]).all()
        report = pd.DataFrame(
            {
                "annual_retention": metrics.annual_retention(model.cohort_frame()),
                "customer_equity": metrics.customer_equity(
                    ledger, money.customer_clv(model.customers_frame(), ledger, model.config)
                ),
                "satisfied_defector_share": metrics.satisfied_defector_share(ledger),
            }
        ).loc[table.index]
        for column in report:
            assert np.allclose(table[column], report[column], rtol=1e-12, equal_nan=True)
            shown = [monitor_text(column, value) for value in table[column]]
            assert shown == [monitor_text(column, value) for value in report[column]]
        if month >= 13:
            assert table["annual_retention"].between(0, 1).all()
        else:
            assert table["annual_retention"].isna().all()
    assert monitor_text("annual_retention", 0.8349) == "83%"
    assert monitor_text("customer_equity", 12345.6) == "12,346"
    assert monitor_text("satisfied_defector_share", float("nan")) == "–"
