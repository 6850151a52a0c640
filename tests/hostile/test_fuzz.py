"""Issue 23, point 9: a fuzz test of the scenario loader and the command line, bounded in time.

Hypothesis writes scenario files of two kinds: a small valid scenario with fields of its
sections replaced by arbitrary values (wrong types, booleans, huge or non-finite numbers,
unknown keys, nested lists and mappings), and arbitrary text. The loader either returns a
scenario or raises ``ScenarioError``; ``validate`` exits 0 or 2; a file it refuses, ``run``
refuses too, with exit 2, one line per problem naming the file, no traceback and nothing
written. Derandomized, so that CI sees the same examples every time (40 examples, about 20 s
on an idle machine); raise ``max_examples`` locally to search longer.
"""

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from experiments.scenario import FILE_KEYS, ScenarioError, load_scenario
from experiments.schema import field_names

BASE = {
    "firms": [{"name": "A", "strategy": "clasp"}],
    "simulation": {"customers": 20, "periods": 2, "seed": 1},
}
SECTIONS = ("market", "customers", "relationship", "simulation", "execution", "report")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["clasp", "Zipper", "traditional", "onboarding", "local", "dask", "1e9"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw) -> dict:
    """The valid base scenario with a few fields of its sections set to arbitrary values."""
    document = yaml.safe_load(yaml.safe_dump(BASE))
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(SECTIONS))
        names = field_names((section,)) or ["anything"]
        key = draw(st.sampled_from([*names, "unknown_key"]))
        target = document.setdefault(section, {})
        if isinstance(target, dict):
            target[key] = draw(values)
    if draw(st.booleans()):
        firm = document["firms"][0]
        firm[draw(st.sampled_from(["strategy", "price", "policies", "name", "churn_factor"]))] = (
            draw(values)
        )
    if draw(st.booleans()):
        document[draw(st.sampled_from([*FILE_KEYS, "Firms"]))] = draw(values)
    return document


texts = st.one_of(
    mutated().map(lambda document: yaml.safe_dump(document, allow_unicode=True)),
    st.text(max_size=200),
    st.sampled_from(["", "---\n", "[", "{a: 1", "&a [*a]", "!!python/object:os.system {}"]),
)


def check(text, tmp_path, capsys) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_scenario(path)
        loaded = True
    except ScenarioError as error:
        loaded = False
        assert error.problems
    code = main(["validate", str(path), "-q"])
    out, err = capsys.readouterr()
    assert code == (0 if loaded else 2), err
    assert "Traceback" not in err
    if loaded:
        return
    out_folder = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out_folder), "-q"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err and out == ""
    lines = err.splitlines()
    assert lines and all(line.startswith(str(path)) for line in lines), err
    assert not out_folder.exists()  # nothing written on refusal


FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(text=texts)
def test_loader_and_cli_refuse_in_lines_or_accept(text, tmp_path, capsys):
    check(text, tmp_path, capsys)
