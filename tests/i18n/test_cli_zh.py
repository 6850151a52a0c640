"""``--lang zh`` on the other commands: scenario and input errors in Chinese, as in English
one line per problem naming the file and the field, exit 2; field names and allowed values
stay as the scenario file writes them."""

import re

import pytest

from cli.main import main

BAD = """\
name: bad
simulation:
  customers: -5
  periodz: 12
"""

ENGLISH = [
    "{file}:3: simulation.customers: -5 is out of range; allowed: 1 <= value <= 100000000",
    "{file}:4: simulation.periodz: unknown field; did you mean 'periods'?",
]
CHINESE = [
    "{file}:3: simulation.customers: -5 超出范围；允许：1 <= value <= 100000000",
    "{file}:4: simulation.periodz: 未知字段；是否想写 'periods'？",
]


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    return path


def errors(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_scenario_problems_in_chinese_name_the_file_and_the_field(bad, capsys, command):
    assert main([command, bad, "--lang", "zh"]) == 2
    assert errors(capsys) == [line.format(file=bad) for line in CHINESE]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_without_lang_the_problems_are_in_english_as_before(bad, capsys, command):
    assert main([command, bad]) == 2
    assert errors(capsys) == [line.format(file=bad) for line in ENGLISH]


def test_a_missing_file_and_a_bad_option_in_chinese(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    assert main(["calibrate", missing, "--target", missing, "--lang", "zh"]) == 2
    assert errors(capsys) == [f"{missing}: 没有这个文件"]
    assert main(["export", tmp_path, "--lang", "zh"]) == 2
    (line,) = errors(capsys)
    assert line.startswith("错误：没有要导出的内容：请加上 --transactions")


def test_an_unknown_language_is_refused_with_the_allowed_ones(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["validate", bad, "--lang", "fr"])
    assert exit_.value.code == 2
    assert re.search(
        r"--lang: invalid choice: 'fr' \(choose from '?en'?, '?zh'?\)", capsys.readouterr().err
    )


# the model's own checks (sim.config.Refusal): a rule between fields, a policy's parameters
MODEL_CHECKS = """\
name: model-checks
firms:
  - name: A
    strategy: clasp
    policies: [{name: win_back, budgett: 10}, {name: onboarding, start: 10, end: 5}]
"""


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            [
                "end: must be >= start (10), got 5",
                "budgett: not a field of policy 'win_back'; did you mean 'budget'?",
            ],
        ),
        (
            "zh",
            [
                "end：必须 >= start（10），实际为 5",
                "budgett：不是政策 'win_back' 的字段；是否想写 'budget'？",
            ],
        ),
    ],
)
def test_the_models_own_checks_speak_the_language_asked_for(tmp_path, capsys, lang, expected):
    path = tmp_path / "checks.yaml"
    path.write_text(MODEL_CHECKS, encoding="utf-8")
    assert main(["validate", path, "--lang", lang]) == 2
    shown = errors(capsys)
    assert len(shown) == len(expected), shown
    for line, message in zip(sorted(shown), sorted(expected), strict=True):
        assert line.startswith(f"{path}:") and line.endswith(message), line


# names the registries do not hold (sim.registry.check_name): setting, strategy, policy, stage
UNKNOWN_NAMES = """\
name: unknown-names
market: {setting: online}
firms:
  - name: A
    strategy: CLASP
    policies: [{name: nonsense, budget: 10}]
  - {name: B, strategy: zipper}
"""


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            [
                "market.setting: unknown setting 'online'; valid settings: traditional, ecommerce",
                "firms.0.strategy: unknown strategy 'CLASP'; valid strategies: clasp, zipper, "
                "velcro (names are exact: did you mean 'clasp'?)",
                "firms.0.policies.0.name: unknown policy 'nonsense'; valid policies: "
                "onboarding, loyalty_programme, service_recovery, cross_sell, win_back, "
                "value_targeting, price_promotion",
            ],
        ),
        (
            "zh",
            [
                "market.setting: 未知商务背景 'online'；有效的商务背景：traditional, ecommerce",
                "firms.0.strategy: 未知策略 'CLASP'；有效的策略：clasp, zipper, velcro"
                "（名称须完全一致：是否想写 'clasp'？）",
                "firms.0.policies.0.name: 未知政策 'nonsense'；有效的政策：onboarding, "
                "loyalty_programme, service_recovery, cross_sell, win_back, value_targeting, "
                "price_promotion",
            ],
        ),
    ],
)
def test_unknown_names_list_the_valid_ones_in_the_language_asked_for(
    tmp_path, capsys, lang, expected
):
    path = tmp_path / "names.yaml"
    path.write_text(UNKNOWN_NAMES, encoding="utf-8")
    assert main(["validate", path, "--lang", lang]) == 2
    shown = [line.split(":", 2)[2].strip() for line in errors(capsys)]
    assert sorted(shown) == sorted(expected), shown
