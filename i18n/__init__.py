"""Two languages, one code path: English (the default) and Chinese, from gettext catalogs.

Every user-facing string is written in English in the code and marked for
translation: ``_("customer equity")`` where it is used, ``N_("...")`` where it
is only defined (a module-level table of labels) and translated later with
``_(label)``. ``python -m i18n extract`` collects the marked strings and the
glossary's terms into ``i18n/locales/crm_sim.pot`` and merges them into each
language's ``.po``; a translator fills in the ``msgstr``; ``python -m i18n
compile`` writes the ``.mo`` files, which are committed (tests/i18n checks that
they match the ``.po`` and that no marked string lacks a Chinese entry).

The language in force is set for a block of work with :func:`language`
(``with i18n.language("zh"): doc = build(...)``); :func:`gettext` (alias
``_``) translates into it. English has no catalog: its messages are the
strings in the code, so English output is exactly what the code says.

The course's terms (stages, strategies, determinants) live once, in
``i18n/glossary.yaml`` (:func:`glossary`, :func:`term`): the extraction writes
them into the catalogs, a test checks every translation that uses an English
term uses its Chinese term, and ``docs/glossary.md`` is generated from it.

Numbers and dates follow the language's CLDR conventions through Babel
(:func:`number`, :func:`percent`, :func:`date`).

This package sits below every other layer (it imports nothing of crm-sim), so
``store``, ``analysis``, ``experiments``, ``cli`` and ``dashboard`` can all use it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import gettext as _gettext
from collections.abc import Iterator
from pathlib import Path

import yaml
from babel import Locale
from babel.dates import format_date
from babel.numbers import get_decimal_symbol, get_group_symbol

LANGUAGES = ("en", "zh")
"""The languages crm-sim speaks: ``en`` (the default, the strings in the code) and ``zh``."""

DEFAULT = "en"

DOMAIN = "crm_sim"
"""The catalogs' gettext domain: ``i18n/locales/<lang>/LC_MESSAGES/crm_sim.mo``."""

LOCALES = Path(__file__).resolve().parent / "locales"
GLOSSARY = Path(__file__).resolve().parent / "glossary.yaml"

BABEL_LOCALES = {"en": "en", "zh": "zh_Hans_CN"}
"""The CLDR locale behind each language (number and date conventions)."""

_current = DEFAULT


class LanguageError(ValueError):
    """A language crm-sim does not have; the message names the allowed values."""


def check_language(value) -> str:
    """``value`` if it is one of :data:`LANGUAGES`, else :class:`LanguageError`."""
    if value not in LANGUAGES:
        raise LanguageError(f"unknown language {value!r}: use one of {', '.join(LANGUAGES)}")
    return value


@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English: none, the code's strings are the messages)."""
    check_language(lang)
    if lang == DEFAULT:
        return _gettext.NullTranslations()
    with open(LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as file:
        return _gettext.GNUTranslations(file)


def current() -> str:
    """The language in force (see :func:`language`)."""
    return _current


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Translate into ``lang`` inside the block (``None``: keep the language in force)."""
    global _current
    previous = _current
    _current = check_language(lang) if lang is not None else previous
    try:
        yield _current
    finally:
        _current = previous


def gettext(message: str) -> str:
    """``message`` in the language in force (the empty string stays empty)."""
    if _current == DEFAULT or not message:
        return message
    return translations(_current).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural of a message, for ``n``, in the language in force."""
    return translations(_current).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for translation where it is defined; translate it later with ``_``."""
    return message


def translator(lang: str):
    """A ``gettext`` function bound to ``lang``, whatever the language in force.

    For code that serves several languages at once (the dashboard: one page per
    visitor): ``_ = i18n.translator(lang)``, then ``_("Run")``.
    """
    catalog = translations(check_language(lang))
    return catalog.gettext


# ---------------------------------------------------------------------------
# The glossary
# ---------------------------------------------------------------------------


@functools.cache
def glossary() -> dict[str, dict[str, str]]:
    """The course's terms: ``{key: {"en": ..., "zh": ..., "group": ..., "source": ...}}``."""
    with open(GLOSSARY, encoding="utf-8") as file:
        return yaml.safe_load(file)["terms"]


def term(key: str, lang: str | None = None) -> str:
    """The glossary's name of ``key`` (e.g. ``"exploration"``) in ``lang`` (default: in force)."""
    return glossary()[key][lang or _current]


# ---------------------------------------------------------------------------
# Numbers and dates (CLDR, through Babel)
# ---------------------------------------------------------------------------


@functools.cache
def _symbols(lang: str) -> tuple[str, str, str]:
    locale = Locale.parse(BABEL_LOCALES[check_language(lang)])
    percent_sign = locale.number_symbols[locale.default_numbering_system]["percentSign"]
    return get_decimal_symbol(locale), get_group_symbol(locale), percent_sign


@functools.cache
def _mapping(lang: str) -> dict[int, str] | None:
    decimal, group, percent = _symbols(lang)
    table = {ord("."): decimal, ord(","): group, ord("%"): percent}
    return None if all(chr(k) == v for k, v in table.items()) else str.maketrans(table)


def localize(formatted: str, lang: str | None = None) -> str:
    """A number Python formatted (``f"{x:,.2f}"``, ``f"{x:.1%}"``) with ``lang``'s symbols.

    Python's formatting rounds the binary value exactly; this keeps its
    digits and swaps the decimal and group separators and the percent sign
    for the locale's (CLDR). Cheap enough for every cell of a table.
    """
    mapping = _mapping(lang or _current)
    return formatted if mapping is None else formatted.translate(mapping)


def number(value: float, digits: int = 0, lang: str | None = None) -> str:
    """``value`` with ``digits`` decimals and thousands groups, in ``lang``'s convention."""
    return localize(f"{value:,.{digits}f}", lang)


def percent(value: float, digits: int = 1, lang: str | None = None) -> str:
    """``value`` (a share) as a percentage, in ``lang``'s convention."""
    return localize(f"{value:.{digits}%}", lang)


def date(value: _dt.date | _dt.datetime | str, lang: str | None = None) -> str:
    """A date (or an ISO 8601 string) in ``lang``'s long form: December 3, 2026, 2026年12月3日."""
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value)
    return format_date(value, format="long", locale=BABEL_LOCALES[lang or _current])
