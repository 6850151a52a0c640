"""The catalogs' upkeep: ``python -m i18n extract | compile | check``.

- ``extract`` collects every string marked with ``_``, ``N_``, ``gettext`` or
  ``ngettext`` in crm-sim's packages (:data:`SOURCES`) and every term of the
  glossary into ``i18n/locales/crm_sim.pot``, and merges that template into
  each language's ``.po`` (new strings arrive with an empty ``msgstr``; a
  glossary term arrives already translated from the glossary).
- ``compile`` writes each ``.po`` to its ``.mo`` (committed: an install from a
  fresh clone needs no build step).
- ``check`` exits 1, naming the strings, when a marked string has no
  translation or a ``.mo`` differs from what its ``.po`` compiles to.

Adding a string: mark it in the code (``from i18n import _``, then
``_("Customers by stage")``), run ``python -m i18n extract``, fill in its
``msgstr`` in ``i18n/locales/zh/LC_MESSAGES/crm_sim.po``, run ``python -m i18n
compile``. A message with placeholders keeps them by name: ``_("{n} runs").format(n=n)``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from . import DOMAIN, LANGUAGES, LOCALES, glossary

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (
    "analysis",
    "cli",
    "dashboard",
    "experiments",
    "store",
    "i18n",
    "app.py",
    "sim/config.py",
    "sim/registry.py",
)
"""The packages (and the page module) whose marked strings are extracted; of ``sim``, only
the scenario checks of ``sim/config.py`` and the unknown names of ``sim/registry.py`` speak
to a user (:class:`sim.registry.Refusal`)."""

KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
TEMPLATE = LOCALES / f"{DOMAIN}.pot"


def po_path(lang: str) -> Path:
    """The editable catalog of ``lang``."""
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    """The compiled catalog of ``lang`` (what :func:`i18n.translations` reads)."""
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


def template() -> Catalog:
    """Every marked string of :data:`SOURCES` and every glossary term, with where it is used."""
    catalog = Catalog(
        project="crm-sim", domain=DOMAIN, fuzzy=False, copyright_holder="crm-sim's authors"
    )
    for source in SOURCES:
        path = ROOT / source
        if path.is_file():
            found = (
                (source, lineno, message, context)
                for lineno, message, _comments, context in extract_from_file(
                    "python", path, keywords=KEYWORDS
                )
            )
        else:
            found = (
                (f"{source}/{filename}", lineno, message, context)
                for filename, lineno, message, _comments, context in extract_from_dir(
                    path, method_map=[("**.py", "python")], keywords=KEYWORDS
                )
            )
        for where, lineno, message, context in found:
            catalog.add(message, locations=[(where, lineno)], context=context)
    for key, entry in glossary().items():
        for message in dict.fromkeys([entry["en"], entry.get("data", entry["en"])]):
            catalog.add(message, auto_comments=[f"glossary: {key}"], locations=[])
    return catalog


def _read(path: Path, lang: str) -> Catalog:
    with open(path, "rb") as file:
        return read_po(file, locale=lang, domain=DOMAIN)


def _write_po(catalog: Catalog, path: Path) -> None:
    buffer = io.BytesIO()
    # file names without line numbers: an edit elsewhere in a file does not churn the catalogs
    write_po(buffer, catalog, width=100, sort_output=False, include_lineno=False)
    path.write_bytes(buffer.getvalue())


def extract() -> None:
    """Write the template and merge it into every language's ``.po``."""
    pot = template()
    _write_po(pot, TEMPLATE)
    terms = {
        form: entry for entry in glossary().values() for form in (entry["en"], entry.get("data"))
    }
    for lang in LANGUAGES[1:]:
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = _read(path, lang) if path.exists() else Catalog(locale=lang, domain=DOMAIN)
        catalog.update(pot, no_fuzzy_matching=True)
        catalog.project, catalog.fuzzy = "crm-sim", False
        catalog.copyright_holder = "crm-sim's authors"
        for message in catalog:
            if message.id in terms:  # the glossary decides a term's translation
                message.string = terms[message.id][lang]
        catalog.obsolete.clear()
        _write_po(catalog, path)


def compiled(lang: str) -> bytes:
    """The ``.mo`` bytes that the ``.po`` of ``lang`` compiles to."""
    buffer = io.BytesIO()
    write_mo(buffer, _read(po_path(lang), lang), use_fuzzy=False)
    return buffer.getvalue()


def compile_all() -> None:
    """Write every language's ``.mo`` from its ``.po``."""
    for lang in LANGUAGES[1:]:
        mo_path(lang).write_bytes(compiled(lang))


def problems() -> list[str]:
    """Marked strings without a translation, and ``.mo`` files that differ from their ``.po``."""
    found = []
    wanted = {m.id for m in template() if m.id}
    for lang in LANGUAGES[1:]:
        catalog = _read(po_path(lang), lang)
        have = {m.id: m for m in catalog if m.id}
        for message_id in sorted(wanted, key=str):
            message = have.get(message_id)
            text = message_id if isinstance(message_id, str) else message_id[0]
            strings = message.string if message is not None else ""
            plural = isinstance(strings, tuple)
            if message is None or not all(strings if plural else [strings]) or message.fuzzy:
                found.append(f"{po_path(lang).relative_to(ROOT)}: no {lang} translation: {text!r}")
        if not mo_path(lang).exists() or mo_path(lang).read_bytes() != compiled(lang):
            found.append(
                f"{mo_path(lang).relative_to(ROOT)}: out of date, run: python -m i18n compile"
            )
    return found


def main(argv=None) -> int:
    """``python -m i18n extract | compile | check``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["extract"]:
        extract()
    elif argv == ["compile"]:
        compile_all()
    elif argv == ["check"]:
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    else:
        print("usage: python -m i18n extract | compile | check", file=sys.stderr)
        return 2
    return 0
