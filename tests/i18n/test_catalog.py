"""The catalogs: complete, compiled, consistent with the glossary, placeholders kept."""

import re

import pytest
from babel.messages.catalog import Catalog

import i18n
from i18n import catalog


def _messages(lang="zh"):
    return [m for m in catalog._read(catalog.po_path(lang), lang) if m.id]


def test_every_marked_string_has_a_chinese_entry_and_the_mo_is_up_to_date():
    assert catalog.problems() == []


def test_a_marked_string_without_a_translation_is_named(monkeypatch):
    template = catalog.template

    def with_a_new_string():
        found = template()
        found.add("a string marked but never translated", locations=[("analysis/x.py", 1)])
        return found

    monkeypatch.setattr(catalog, "template", with_a_new_string)
    assert catalog.problems() == [
        "i18n/locales/zh/LC_MESSAGES/crm_sim.po: no zh translation: "
        "'a string marked but never translated'"
    ]


def test_an_untranslated_plural_is_named(monkeypatch):
    template = catalog.template

    def with_a_plural():
        found = template()
        found.add(("one new run", "{n} new runs"), locations=[("analysis/x.py", 1)])
        return found

    monkeypatch.setattr(catalog, "template", with_a_plural)
    assert catalog.problems() == [
        "i18n/locales/zh/LC_MESSAGES/crm_sim.po: no zh translation: 'one new run'"
    ]


def test_a_stale_mo_is_named(monkeypatch):
    monkeypatch.setattr(catalog, "compiled", lambda lang: b"not what is committed")
    assert catalog.problems() == [
        "i18n/locales/zh/LC_MESSAGES/crm_sim.mo: out of date, run: python -m i18n compile"
    ]


def test_the_catalog_holds_every_marked_string_of_the_report():
    ids = {m.id for m in _messages()}
    assert {"Which strategy wins where", "{outcome} (95% CI)", "period (month)"} <= ids


@pytest.mark.parametrize("message", _messages(), ids=lambda m: str(m.id)[:40])
def test_a_translation_keeps_the_placeholders(message):
    def names(text):
        return sorted(re.findall(r"\{(\w*)\}", text))

    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    for string in strings:  # Chinese has one plural form: it keeps the plural's placeholders
        assert names(string) == names(ids[-1])


def test_translations_use_the_glossary_terms():
    """A message that names a course term (stage, strategy, determinant, setting) says it
    in Chinese as the glossary does: one name per concept across report, plots and CLI."""
    terms = [t for t in i18n.glossary().values() if t["group"] != "outcome"]
    wrong = []
    for message in _messages():
        if isinstance(message.id, tuple):  # a plural: its singular and Chinese form
            message = type(message)(message.id[0], message.string[0])
        for term in terms:
            for form in {term["en"], term.get("data", term["en"])}:
                named = re.search(rf"\b{re.escape(form)}\b", message.id, re.IGNORECASE)
                if named and term["zh"] not in message.string:
                    wrong.append((message.id, term["zh"]))
    assert wrong == []


def test_glossary_terms_are_in_the_catalog_as_the_glossary_says():
    strings = {m.id: m.string for m in _messages()}
    for term in i18n.glossary().values():
        assert strings[term["en"]] == term["zh"]
        assert i18n.translations("zh").gettext(term.get("data", term["en"])) == term["zh"]


def test_the_course_terms_of_the_issue_are_in_the_glossary():
    zh = {t["zh"] for t in i18n.glossary().values()}
    course = "考察期 形成期 稳定期 退化期 扣钩 拉链 维可牢 客户认知价值 客户满意 客户信任 转移成本"
    assert set(course.split()) <= zh


def test_language_switches_and_restores():
    assert i18n.gettext("Which strategy wins where") == "Which strategy wins where"
    with i18n.language("zh"):
        assert i18n.gettext("Which strategy wins where") == "哪种策略在哪里胜出"
        assert i18n.term("clasp") == "扣钩"
    assert i18n.current() == "en"
    assert i18n.translator("zh")("stability") == "稳定期"
    assert i18n.gettext("") == ""


def test_an_unknown_language_names_the_allowed_ones():
    with pytest.raises(i18n.LanguageError, match="'fr': use one of en, zh"), i18n.language("fr"):
        pass


def test_numbers_and_dates_follow_the_locale():
    assert i18n.number(1234567.891, 2, "en") == "1,234,567.89"
    assert i18n.number(1234567.891, 2, "zh") == "1,234,567.89"  # CLDR zh: the same symbols
    assert i18n.percent(0.256, 1, "zh") == "25.6%"
    assert i18n.date("2026-12-03", "en") == "December 3, 2026"
    assert i18n.date("2026-12-03", "zh") == "2026年12月3日"


def test_the_template_is_a_catalog():
    assert isinstance(catalog.template(), Catalog)
