"""CRMModel as a Mesa model: keyword parameters, a DataCollector, customer records, batch_run."""

import multiprocessing

import mesa
import numpy as np
import pandas as pd
import pytest

from sim import CRMModel, default_config
from sim.model import REPORTED
from sim.paths import MODEL_KEYWORDS

SMALL = {"customers": 600, "periods": 8}


def small_config(**sections):
    return default_config(simulation=SMALL, **sections)


def test_keywords_build_the_same_model_as_the_equivalent_config():
    by_keywords = CRMModel(
        **SMALL,
        setting="ecommerce",
        strategies=["clasp", "velcro"],
        seed=5,
        **{"relationship.referral_rate": 0.05},
    ).run()
    config = small_config(
        market={"setting": "ecommerce"},
        firms=[{"name": "clasp", "strategy": "clasp"}, {"name": "velcro", "strategy": "velcro"}],
        relationship={"referral_rate": 0.05},
    )
    assert by_keywords.config == config
    pd.testing.assert_frame_equal(
        by_keywords.firm_frame(), CRMModel(config, rng=5).run().firm_frame()
    )


def test_a_config_positionally_runs_as_before_and_collecting_changes_no_result():
    config = small_config()
    quiet = CRMModel(config, rng=11).run()  # a Config: no collection unless asked for
    collected = CRMModel(config, rng=11, collect=True).run()
    pd.testing.assert_frame_equal(quiet.firm_frame(), collected.firm_frame())
    pd.testing.assert_frame_equal(quiet.customers_frame(), collected.customers_frame())
    assert quiet.datacollector.model_vars == {}
    assert quiet.customer_records().empty
    assert len(collected.datacollector.get_model_vars_dataframe()) == SMALL["periods"] + 1
    by_keywords = CRMModel(**SMALL, seed=11)  # keywords: Mesa's way, collected by default
    assert by_keywords.collecting
    assert not CRMModel(**SMALL, seed=11, collect=False).collecting


def test_a_dotted_path_may_be_written_with_double_underscores():
    a = CRMModel(**SMALL, seed=1, **{"market.search_probability": 0.2, "firms.1.price": 1.1})
    b = CRMModel(**SMALL, seed=1, market__search_probability=0.2, firms__1__price=1.1)
    assert a.config == b.config
    assert a.config.market.search_probability == 0.2
    assert a.config.firms[1].price == 1.1


def test_seed_is_rng_by_its_mesa_name():
    a = CRMModel(small_config(), seed=3).run()
    b = CRMModel(small_config(), rng=3).run()
    pd.testing.assert_frame_equal(a.firm_frame(), b.firm_frame())
    with pytest.raises(ValueError, match="seed or rng, not both"):
        CRMModel(seed=1, rng=1)


def test_a_plain_dict_gets_a_type_error_that_says_what_to_pass():
    with pytest.raises(TypeError, match=r"not a dict: pass default_config\(\*\*sections\)"):
        CRMModel({"simulation": {"customers": 100}})


def test_an_unknown_keyword_is_named_with_what_is_allowed():
    with pytest.raises(TypeError) as error:
        CRMModel(customer=100)
    message = str(error.value)
    assert "'customer'" in message
    for keyword in (*MODEL_KEYWORDS, "seed", "rng", "collect", "sample", "relationship"):
        assert keyword in message
    with pytest.raises(TypeError, match="relationship has no field 'trust_gain'"):
        CRMModel(**{"relationship.trust_gain": 0.1})


def test_a_config_and_keywords_together_are_refused():
    with pytest.raises(TypeError, match="not both"):
        CRMModel(small_config(), customers=100)


def test_an_out_of_range_value_is_a_value_error_naming_the_field():
    with pytest.raises(ValueError, match=r"simulation\.customers"):
        CRMModel(customers=0)


def test_strategies_name_the_firms_and_number_repeats():
    model = CRMModel(customers=100, periods=1, strategies="clasp,zipper,clasp", seed=0)
    assert [f.name for f in model.firms] == ["clasp_1", "zipper", "clasp_2"]
    assert [f.params.strategy for f in model.firms] == ["clasp", "zipper", "clasp"]


def test_model_reporters_are_the_ledger_per_firm_and_step():
    model = CRMModel(small_config(), rng=2, collect=True).run()
    frame = model.datacollector.get_model_vars_dataframe()
    names = [f.name for f in model.firms]
    assert list(frame.columns) == [
        f"{name}_{measure}" for name in names for measure in (*REPORTED, "equity")
    ]
    assert len(frame) == SMALL["periods"] + 1  # period 0, then every step
    ledger = model.firm_frame()
    for name in names:
        own = ledger[ledger["firm"] == name].reset_index(drop=True)
        for measure in REPORTED:
            np.testing.assert_array_equal(frame[f"{name}_{measure}"], own[measure])
        np.testing.assert_allclose(frame[f"{name}_equity"], own["discounted_profit"].cumsum())


def test_customer_records_are_shaped_like_mesa_agent_records():
    model = CRMModel(small_config(), rng=4, collect=True, sample=7).run()
    records = model.customer_records()
    assert records.index.names == ["Step", "AgentID"]
    assert len(records) == 7 * (SMALL["periods"] + 1)
    assert set(records.index.get_level_values("Step")) == set(range(SMALL["periods"] + 1))
    last = records.xs(SMALL["periods"], level="Step")
    rows = last["row"].to_numpy()
    np.testing.assert_array_equal(last.index, model.customers.identity[rows])
    np.testing.assert_array_equal(last["satisfaction"], model.customers.satisfaction[rows])
    assert set(last["stage"]) <= {
        "prospect",
        "exploration",
        "formation",
        "stability",
        "decline",
        "exited",
    }
    again = CRMModel(small_config(), rng=4, collect=True, sample=7).run().customer_records()
    pd.testing.assert_frame_equal(records, again)  # a seeded sample
    other = CRMModel(small_config(), rng=5, collect=True, sample=7).run().customer_records()
    assert not np.array_equal(other["row"].to_numpy(), records["row"].to_numpy())
    assert CRMModel(small_config(), rng=4, collect=True, sample=0).run().customer_records().empty


@pytest.fixture
def start_method():
    """mesa.batch_run sets the spawn start method for the whole process: put it back after."""
    before = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(before, force=True)


GRID = {"customers": [300, 500], "relationship.referral_rate": [0.04, 0.08], "periods": 4}


@pytest.mark.parametrize("processes", [1, 2])
def test_batch_run_over_a_grid_of_two_parameters_gives_the_model_reporters(processes, start_method):
    rows = mesa.batch_run(
        CRMModel,
        parameters=GRID,
        rng=[1, 2],
        number_processes=processes,
        display_progress=False,
    )
    table = pd.DataFrame(rows)
    assert len(table) == 2 * 2 * 2  # grid x seeds, the last step of each run
    assert {"A_retention", "B_customers", "C_equity", "A_stability"} <= set(table.columns)
    assert set(table["Step"]) == {4}
    table = table.sort_values(["seed", "customers", "relationship.referral_rate"])
    for _, row in table.iterrows():  # each row is the run that its parameters name
        model = CRMModel(
            customers=int(row["customers"]),
            periods=4,
            seed=int(row["seed"]),
            **{"relationship.referral_rate": row["relationship.referral_rate"]},
        ).run()
        assert row["B_customers"] == model.ledger.get("customers")[1]
        assert row["C_equity"] == pytest.approx(
            model.firm_frame().query("firm == 'C'")["discounted_profit"].sum()
        )


@pytest.mark.filterwarnings("ignore:The `iterations` keyword argument is deprecated")
def test_batch_run_iterations_and_every_step(start_method):
    rows = mesa.batch_run(
        CRMModel,
        parameters={"customers": 300, "periods": 3},
        iterations=2,
        number_processes=1,
        data_collection_period=1,
        display_progress=False,
    )
    table = pd.DataFrame(rows)
    assert len(table) == 2 * 4  # two runs, steps 0..3
    assert table.groupby("iteration")["Step"].apply(list).tolist() == [[0, 1, 2, 3]] * 2
