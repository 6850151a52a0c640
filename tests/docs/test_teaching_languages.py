"""docs/teaching.md and docs/teaching.zh.md keep the same exercises, scenarios and observations."""

import re
from pathlib import Path

import i18n

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECTIONS = {  # each exercise's parts, in both languages, in this order
    "Scenario": "场景",
    "Question": "问题",
    "What to vary": "改变什么",
    "What students should observe": "学生应观察到",
    "How sure": "把握多大",
    "Discussion": "讨论",
}


def exercises(path: Path, word: str) -> dict[int, str]:
    """``{number: text}`` of every ``## <word> N`` section of a page."""
    text = path.read_text(encoding="utf-8")
    found = re.split(rf"^## {word} (\d+)", text, flags=re.M)
    return {
        int(n): body.split("\n## ")[0] for n, body in zip(found[1::2], found[2::2], strict=True)
    }


def _parts(body: str, names) -> list[str]:
    return [n for n in names if f"**{n}" in body]


def test_both_languages_have_the_same_exercises():
    english = exercises(DOCS / "teaching.md", "Exercise")
    chinese = exercises(DOCS / "teaching.zh.md", "练习")
    assert english and sorted(english) == sorted(chinese)


def test_each_exercise_has_the_same_scenario_parts_and_observations():
    english = exercises(DOCS / "teaching.md", "Exercise")
    chinese = exercises(DOCS / "teaching.zh.md", "练习")
    for number, body in english.items():
        other = chinese[number]
        assert re.findall(r"scenarios/\S+\.yaml", body) == re.findall(
            r"scenarios/\S+\.yaml", other
        ), number
        assert [SECTIONS[p] for p in _parts(body, SECTIONS)] == _parts(other, SECTIONS.values()), (
            number
        )
        bullets = [len(re.findall(r"^- ", b, flags=re.M)) for b in (body, other)]
        assert bullets[0] == bullets[1], f"exercise {number}: observations {bullets}"


def test_the_chinese_exercises_use_the_glossary_s_terms():
    """A course term in an English exercise appears in the Chinese one as the glossary says."""
    english = exercises(DOCS / "teaching.md", "Exercise")
    chinese = exercises(DOCS / "teaching.zh.md", "练习")
    terms = [t for t in i18n.glossary().values() if t["group"] != "outcome"]
    missing = [
        (number, term["en"], term["zh"])
        for number, body in english.items()
        for term in terms
        if re.search(rf"\b{re.escape(term.get('data', term['en']))}\b", body, re.I)
        and term["zh"] not in chinese[number]
    ]
    assert missing == []


def test_a_missing_exercise_would_fail(tmp_path):
    page = tmp_path / "teaching.zh.md"
    text = (DOCS / "teaching.zh.md").read_text(encoding="utf-8")
    page.write_text(text.split("## 练习 3")[0], encoding="utf-8")
    assert sorted(exercises(page, "练习")) != sorted(exercises(DOCS / "teaching.md", "Exercise"))
