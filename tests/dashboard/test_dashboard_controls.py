"""The dashboard's controls -> Config mapping, the classroom model, the server helpers."""

import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import serve
from dashboard.controls import (
    CONTROL_BOUNDS,
    DEFAULT_SECTIONS,
    ClassroomModel,
    check_control,
    classroom_config,
    controls_from_sections,
    initial_state,
    load_scenario,
    model_params,
)
from dashboard.server import SCENARIO_ENV, same_origin, server_command, server_environment
from sim import SETTINGS, STRATEGIES

ROOT = Path(__file__).resolve().parents[2]
SWITCHING = ROOT / "scenarios" / "teaching" / "what_switching_cost_buys.yaml"
DEFAULTS = controls_from_sections(DEFAULT_SECTIONS)


def test_default_controls_are_the_classroom_defaults():
    assert DEFAULTS == {
        "setting": "traditional",
        "strategy_a": "clasp",
        "price_a": 1.0,
        "strategy_b": "zipper",
        "price_b": 1.0,
        "strategy_c": "velcro",
        "price_c": 1.0,
        "switching_cost_build": 1.0,
        "personalization": 1.0,
        "word_of_mouth": 1.0,
        "customers": 2000,
        "seed": 0,
    }


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_levers_multiply_the_settings_own_values(setting):
    config = classroom_config(
        None,
        **{
            **DEFAULTS,
            "setting": setting,
            "switching_cost_build": 2.0,
            "personalization": 0.5,
            "word_of_mouth": 3.0,
        },
    )
    preset = SETTINGS[setting]
    assert config.market.setting == setting
    assert config.market.switching_cost_scale == pytest.approx(2.0 * preset["switching_cost_scale"])
    assert config.market.personalization_weight == pytest.approx(
        0.5 * preset["personalization_weight"]
    )
    assert config.market.word_of_mouth_reach == pytest.approx(3.0 * preset["word_of_mouth_reach"])
    # the rest of the market is the setting's preset
    assert config.market.search_probability == preset["search_probability"]


def test_firm_controls_set_strategy_price_size_and_seed():
    config = classroom_config(
        None, **{**DEFAULTS, "strategy_b": "velcro", "price_b": 1.3, "customers": 500, "seed": 7}
    )
    assert [f.strategy for f in config.firms] == ["clasp", "velcro", "velcro"]
    # the price control multiplies the strategy's own price (clasp 0.95, velcro 1.05)
    usual = [STRATEGIES[f.strategy].traits["price"] for f in config.firms]
    assert [f.price for f in config.firms] == pytest.approx([usual[0], 1.3 * usual[1], usual[2]])
    assert config.firms[1].adaptation == STRATEGIES["velcro"].traits["adaptation"]
    assert (config.simulation.customers, config.simulation.seed) == (500, 7)


def test_changing_a_strategy_drops_the_scenarios_trait_overrides_of_that_firm():
    base = {
        "firms": [
            {"name": "A", "strategy": "zipper", "switching_cost_build": 0.2},
            {"name": "B", "strategy": "zipper", "switching_cost_build": 0.2},
            {"name": "C"},
        ]
    }
    controls = {**controls_from_sections(base), "strategy_a": "clasp"}
    config = classroom_config(base, **controls)
    assert (
        config.firms[0].switching_cost_build == STRATEGIES["clasp"].traits["switching_cost_build"]
    )
    assert config.firms[1].switching_cost_build == 0.2  # unchanged strategy keeps its override


def test_changing_the_setting_drops_the_scenarios_market_overrides():
    base = {
        "market": {"setting": "traditional", "search_probability": 0.5},
        "firms": DEFAULT_SECTIONS["firms"],
    }
    same = classroom_config(base, **controls_from_sections(base))
    assert same.market.search_probability == 0.5
    switched = classroom_config(base, **{**controls_from_sections(base), "setting": "ecommerce"})
    assert switched.market.search_probability == SETTINGS["ecommerce"]["search_probability"]


def test_unknown_names_fail_listing_the_valid_ones():
    with pytest.raises(ValueError, match="valid strategies: clasp, zipper, velcro"):
        ClassroomModel(strategy_a="handshake")
    with pytest.raises(ValueError, match="valid settings: traditional, ecommerce"):
        ClassroomModel(setting="moon")


def test_scenario_values_outside_a_slider_are_clipped_to_it():
    base = {
        "firms": [{"name": "A", "price": 5.0}, {"name": "B"}, {"name": "C"}],
        "simulation": {"customers": 50, "seed": 1234},
    }
    controls = controls_from_sections(base)
    assert (controls["customers"], controls["seed"]) == (200, 99)
    # the price control is a multiple of the scenario's own price, which it keeps
    assert controls["price_a"] == 1.0
    assert classroom_config(base, **controls).firms[0].price == 5.0


def test_classroom_model_is_seeded_and_stops_at_the_horizon():
    base = {**DEFAULT_SECTIONS, "simulation": {"customers": 300, "periods": 3}}
    first = ClassroomModel(**{**DEFAULTS, "customers": 300}, base=base)
    second = ClassroomModel(**{**DEFAULTS, "customers": 300}, base=base)
    for _ in range(5):  # the page may step past the end within one render interval
        first.step()
        second.step()
    assert first.running is False
    # the month counter the page shows stops exactly at the horizon
    assert (first.period, first.steps, first.time) == (3, 3, 3)
    frame = first.firm_frame()
    assert frame["period"].max() == 3
    assert frame.equals(second.firm_frame())


def test_model_params_offer_every_control_with_its_start_value():
    controls, sections, _ = initial_state(SWITCHING)
    params = model_params(controls, sections)
    assert params["base"] == sections  # fixed, not a control
    inputs = {name: spec for name, spec in params.items() if name != "base"}
    assert set(inputs) == set(controls)
    assert {name: spec["value"] for name, spec in inputs.items()} == controls
    assert params["strategy_b"]["values"] == list(STRATEGIES)
    assert params["setting"]["values"] == list(SETTINGS)
    assert params["price_b"]["label"] == "Firm B: price (1 = usual)"
    for spec in inputs.values():
        if spec["type"].startswith("Slider"):
            assert spec["min"] <= spec["value"] <= spec["max"]
    # every control is a keyword of the model SolaraViz rebuilds on Reset
    model = ClassroomModel(
        **{name: spec["value"] for name, spec in inputs.items()}, base=params["base"]
    )
    assert model.controls == controls


def test_load_scenario_rejects_a_scenario_without_three_firms(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("name: two\nfirms: [{name: A}, {name: B}]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="shows 3 firms; this scenario has 2"):
        load_scenario(path)


def test_load_scenario_rejects_an_invalid_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("market: {setting: moon}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown setting 'moon'"):
        load_scenario(path)


def test_server_listens_on_this_machine_only_and_passes_the_scenario(monkeypatch):
    command = server_command()
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8765"
    assert Path(command[command.index("run") + 1]) == ROOT / "app.py"
    monkeypatch.setenv(SCENARIO_ENV, "/somewhere/else.yaml")
    assert SCENARIO_ENV not in server_environment(None)
    env = server_environment(Path("scenarios/teaching/what_switching_cost_buys.yaml"))
    assert Path(env[SCENARIO_ENV]).is_absolute()
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"


def test_the_page_module_switches_off_usage_statistics(load_app, monkeypatch):
    from solara.server import settings

    monkeypatch.setattr(settings.telemetry, "mixpanel_enable", True)
    load_app()
    assert settings.telemetry.mixpanel_enable is False


def test_serve_checks_the_scenario_before_starting_a_server(tmp_path):
    with pytest.raises(FileNotFoundError):
        serve(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("simulation: {customers: 0}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="customers"):
        serve(bad)


@pytest.mark.parametrize(
    ("name", "sent", "expected"),
    [
        ("price_a", "1.5", 1.5),
        ("price_b", "0,75", 0.75),
        ("customers", "2000", 2000),
        ("customers", 300.0, 300),
        ("seed", 0, 0),
        ("word_of_mouth", 3, 3.0),
        ("setting", "ecommerce", "ecommerce"),
    ],
)
def test_check_control_accepts_values_in_range(name, sent, expected):
    value = check_control(name, sent)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "sent", "message"),
    [
        ("price_a", "5", r"price_a: '5' is out of range; allowed: a number from 0.5 to 2$"),
        ("price_a", 0.49, "out of range"),
        ("customers", 20_100, "out of range"),
        ("customers", "250.5", "not a whole number"),
        ("seed", -1, "out of range"),
        ("seed", "abc", "not a number"),
        ("personalization", float("nan"), "out of range"),
        ("word_of_mouth", float("inf"), "out of range"),
        ("switching_cost_build", True, "out of range"),
        ("strategy_c", "handshake", "valid strategies: clasp, zipper, velcro"),
        ("periods", 10, "not a control"),
    ],
)
def test_check_control_refuses_values_out_of_range_in_one_line(name, sent, message):
    with pytest.raises(ValueError, match=message) as refused:
        check_control(name, sent)
    assert "\n" not in str(refused.value)


def test_bounds_are_the_ones_the_sliders_show():
    params = model_params(*initial_state(None)[:2])
    for name, ((low, high, step), _) in CONTROL_BOUNDS.items():
        assert (params[name]["min"], params[name]["max"], params[name]["step"]) == (low, high, step)
        check_control(name, low)
        check_control(name, high)
        with pytest.raises(ValueError):
            check_control(name, high + step)


def test_an_out_of_range_value_never_builds_a_model():
    with pytest.raises(ValueError, match="customers: 50 is out of range"):
        ClassroomModel(customers=50)
    with pytest.raises(ValueError, match="price_b"):
        ClassroomModel(price_b=9.0)


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({b"host": b"127.0.0.1:8765", b"origin": b"http://127.0.0.1:8765"}, True),
        ({b"host": b"127.0.0.1:8765"}, True),  # not a browser: no Origin to check
        ({b"host": b"127.0.0.1:8765", b"origin": b"http://evil.example"}, False),
        ({b"host": b"127.0.0.1:8765", b"origin": b"http://127.0.0.1:9999"}, False),
        ({b"host": b"127.0.0.1:8765", b"origin": b"null"}, False),
        ({b"origin": b"http://127.0.0.1:8765"}, False),  # no Host to compare with
    ],
)
def test_same_origin_compares_the_origin_with_the_host(headers, allowed):
    assert same_origin(headers) is allowed


def test_the_server_binds_this_machine_only_unless_a_host_is_named():
    command = server_command()
    assert command[command.index("--host") + 1] == "127.0.0.1"


def test_serve_says_it_prepares_the_model_before_the_first_start(monkeypatch, capsys):
    import sim.cache
    from dashboard import server

    started = []

    class Server:
        def __init__(self, command, env):
            started.append(command)

        def wait(self, timeout=None):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(server, "engine_ready", lambda: False)
    monkeypatch.setattr(sim.cache, "warm_up", lambda: 0.1)  # what `from sim import warm_up` gives
    monkeypatch.setattr(server.subprocess, "Popen", Server)
    assert server.serve() == 0
    out = capsys.readouterr().out
    assert out.startswith("preparing the model: compiling its engine")
    assert len(started) == 1  # the page is served after the preparation

    started.clear()
    monkeypatch.setattr(server, "engine_ready", lambda: True)
    assert server.serve() == 0
    assert "preparing" not in capsys.readouterr().out and len(started) == 1


def test_starting_the_server_loads_neither_the_page_nor_the_model_in_this_process():
    """`run.py app` checks the scenario and the engine's cache, then starts the server.

    Solara, matplotlib, Mesa and the model load in the server process only: the
    browser's first page waits for whatever this process imports first.
    """
    scenario = ROOT / "scenarios" / "teaching" / "what_switching_cost_buys.yaml"
    code = (
        "import sys\n"
        "from dashboard.scenario import load_scenario\n"
        "from dashboard.server import engine_ready, require_extra, serve\n"
        "require_extra()\n"
        f"load_scenario({str(scenario)!r})\n"
        "engine_ready()\n"
        "print(sorted({'solara', 'matplotlib', 'mesa', 'sim.model'} & set(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_a_missing_page_library_is_named_before_the_server_starts(monkeypatch, capsys):
    import importlib.util

    from cli.main import main
    from dashboard import server

    monkeypatch.setattr(server, "serve", lambda *_, **__: pytest.fail("the server started"))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "solara" else real(name, *a)
    )
    assert main(["app"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[app]'" in err and "solara" in err
