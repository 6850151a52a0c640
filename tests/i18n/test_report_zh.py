"""``run.py report DIR --lang zh``: every heading and table header comes from the catalog."""

import re
import shutil
import textwrap

import pytest

import i18n
from cli.main import main
from i18n import catalog

SCENARIO = """\
name: zh
firms:
  - {name: A, strategy: clasp}
  - {name: B, strategy: zipper}
simulation: {customers: 200, periods: 12, seed: 4, replications: 2}
sweep:
  grid:
    market.setting: [traditional, ecommerce]
    firms.0.policies:
      - []
      - [{name: loyalty_programme, budget: 0.5}]
"""
ROMAN = {"I", "II", "III", "IV"}  # trajectory types, the same in both languages
DATA = re.compile(r"\w+(\.\w+)+|\d+(-\d+|\+)?")
"""Headers that are data, not labels: a swept path (firms.0.policies), a tenure band (12-23)."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("zh")
    (root / "zh.yaml").write_text(textwrap.dedent(SCENARIO))
    out = root / "zh"
    assert main(["run", str(root / "zh.yaml"), "--out", str(out), "--workers", "1", "-q"]) == 0
    return out


def _patterns():
    """A full-match pattern per Chinese message (a placeholder matches any text)."""
    strings = []
    for message in catalog._read(catalog.po_path("zh"), "zh"):
        if message.id:  # a plural's forms are strings too
            strings += message.string if isinstance(message.string, tuple) else [message.string]
    return [
        re.compile(
            "".join(".+" if p.startswith("{") else re.escape(p) for p in re.split(r"(\{\w*\})", s))
        )
        for s in strings
    ]


def _headings_and_headers(markdown):
    headings = [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")]
    lines = markdown.splitlines()
    headers = [
        cell.strip()
        for i, line in enumerate(lines[:-1])
        if line.startswith("| ") and lines[i + 1].startswith("|---")
        for cell in line.strip("|").split(" | ")
    ]
    return headings, headers


def test_every_heading_and_table_header_comes_from_the_catalog(folder, tmp_path):
    zh = tmp_path / "zh"
    shutil.copytree(folder, zh)
    assert main(["report", str(zh), "--lang", "zh", "-q"]) == 0
    headings, headers = _headings_and_headers((zh / "report.md").read_text())
    assert len(headings) >= 5 and len(headers) >= 30
    patterns = _patterns()
    untranslated = [
        text
        for text in [*headings, *headers]
        if text not in ROMAN
        and not DATA.fullmatch(text)
        and not any(p.fullmatch(text) for p in patterns)
    ]
    assert untranslated == []
    english_headings, _ = _headings_and_headers((folder / "report.md").read_text())
    assert len(english_headings) == len(headings)
    assert not set(english_headings) & set(headings)  # each one translated
    page = (zh / "report.html").read_text()
    assert '<html lang="zh">' in page and "哪种策略在哪里胜出" in page


def test_the_scenario_s_report_lang_chooses_the_language(folder, tmp_path, capsys):
    text = textwrap.dedent(SCENARIO).replace("name: zh", "name: zh2\nreport: {lang: zh}")
    (tmp_path / "zh2.yaml").write_text(text)
    out = tmp_path / "zh2"
    assert main(["run", str(tmp_path / "zh2.yaml"), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "策略" in printed and "扣钩" in printed  # the printed table too
    report = (out / "report.md").read_text()
    assert "## 哪种策略在哪里胜出" in report
    # --lang wins over the scenario
    assert main(["report", str(out), "--lang", "en", "-q"]) == 0
    assert "## Which strategy wins where" in (out / "report.md").read_text()


def test_a_bad_lang_in_the_scenario_is_one_line_naming_the_field(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nreport: {lang: fr}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{path}:2: report.lang: 'fr' is not allowed; valid values: 'en', 'zh'"]


def test_a_bad_lang_on_the_command_line_names_the_choices(folder, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(folder), "--lang", "fr"])
    assert exit_.value.code == 2
    assert "--lang: invalid choice: 'fr' (choose from 'en', 'zh')" in capsys.readouterr().err


def test_report_errors_speak_the_chosen_language(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing"), "--lang", "zh"]) == 2
    assert capsys.readouterr().err.strip() == f"错误：{tmp_path / 'nothing'}：没有这个文件夹"


def test_the_terminal_table_aligns_chinese_columns():
    import pandas as pd

    from analysis.tables import display_width, format_table

    table = pd.DataFrame(
        {
            "strategy": ["clasp", "velcro"],
            "setting": ["traditional", "ecommerce"],
            "runs": [3, 3],
            "customer_equity": [1000.0, 20.0],
            "customer_equity_low": [900.0, 10.0],
            "customer_equity_high": [1100.0, 30.0],
        }
    )
    with i18n.language("zh"):
        lines = format_table(table).splitlines()
    assert lines[2].startswith("扣钩    传统商务")
    assert len({display_width(line) for line in lines}) == 1


def test_the_chinese_report_s_figures_have_every_glyph(folder):
    """All the report's figures, drawn here (warnings of forked workers would not be seen)."""
    import warnings

    from analysis import render, report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = report.load_results(folder, lean=True)
        with i18n.language("zh"):
            doc = report.build(results, None, render.Renderer(workers=1))
            drawn = [figure.png for figure in doc.figures]
    assert len(drawn) >= 7
    assert [str(w.message) for w in caught if "missing from font" in str(w.message)] == []
