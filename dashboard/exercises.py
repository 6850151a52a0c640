"""The scenario picker: the teaching scenarios, each with its exercise's text beside it.

The exercises are written once per language, in docs/teaching.md and its
Chinese version docs/teaching.zh.md (kept in step by tests/docs);
:func:`exercises` reads each one's title, question and what to vary from the
page's language's guide, keyed by the scenario file it names, so the page and
the guide cannot drift apart. Picking a scenario sets every control to its
values; Reset starts it, as with any changed control.
"""

import re
from collections.abc import Callable
from pathlib import Path

import solara

import i18n
from i18n import N_

from .controls import initial_state
from .language import language

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"
"""The teachers' guide, whose ``## Exercise`` sections the picker shows."""

GUIDES = {"en": GUIDE, "zh": ROOT / "docs" / "teaching.zh.md"}
"""The guide in each language (:data:`i18n.LANGUAGES`)."""

HEADINGS = {"en": "Exercise", "zh": "练习"}
"""The word that opens an exercise's heading in each language's guide."""

OPENINGS = {
    "en": {"scenario": "**Scenario:**", "question": "**Question:**", "vary": "**What to vary:**"},
    "zh": {"scenario": "**场景：**", "question": "**问题：**", "vary": "**改变什么：**"},
}
"""How each paragraph the page shows opens, in each language's guide."""

TEACHING = ROOT / "scenarios" / "teaching"
"""The teaching scenarios the picker offers."""


def plain(markdown: str) -> str:
    """Markdown emphasis and code marks removed: the page shows plain text (no renderer)."""
    text = re.sub(r"`([^`]*)`", r"\1", markdown)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    text = re.sub(r"\*([^*]+)\*", r"\1", text)
    return " ".join(text.split())


def exercises(guide: Path = GUIDE, lang: str = i18n.DEFAULT) -> dict[str, dict[str, str]]:
    """The guide's exercises, keyed by the scenario file each names (``scenarios/...yaml``).

    Args:
        guide: the guide's file.
        lang: the guide's language (its headings and openings: :data:`HEADINGS`,
            :data:`OPENINGS`).

    Returns:
        For each ``## Exercise`` section with a ``**Scenario:** `path``` line:
        ``{"title": ..., "question": ..., "vary": ...}`` in plain text (a
        missing paragraph is an empty string). Nothing if the guide is absent.
    """
    if not guide.is_file():
        return {}
    found = {}
    for section in re.split(r"^## ", guide.read_text(encoding="utf-8"), flags=re.MULTILINE):
        title, _, body = section.partition("\n")
        if not title.startswith(HEADINGS[lang]):
            continue
        # a line break inside a Chinese paragraph joins its two lines without a space
        joiner = "" if lang == "zh" else " "
        paragraphs = [
            " ".join(re.sub(r"\s*\n\s*", joiner, p.strip()).split())
            for p in re.split(r"\n\s*\n", body)
        ]
        texts = {}
        for key, opening in OPENINGS[lang].items():
            texts[key] = next((p[len(opening) :] for p in paragraphs if p.startswith(opening)), "")
        path = re.match(r"\s*`([^`]+)`", texts.pop("scenario"))
        if path:
            found[path.group(1)] = {
                "title": plain(title),
                **{key: plain(text) for key, text in texts.items()},
            }
    return found


def choices(folder: Path = TEACHING, guide: Path = GUIDE) -> dict[str, Path]:
    """The picker's entries: a label per teaching scenario, in the guide's order first.

    Returns:
        ``{label: path}``; the label is the exercise's title, or the file's name
        for a scenario no exercise names.
    """
    texts = exercises(guide)
    files = sorted(folder.glob("*.yaml"))
    named = {path: texts.get(f"scenarios/{folder.name}/{path.name}") for path in files}
    order = list(texts)
    ranked = sorted(
        files,
        key=lambda path: (
            order.index(f"scenarios/{folder.name}/{path.name}") if named[path] else len(order),
            path.name,
        ),
    )
    return {(named[path] or {}).get("title") or path.stem: path for path in ranked}


@solara.component
def ExercisePicker(
    start: tuple[dict, dict, dict],
    on_pick: Callable[[dict, dict, dict], None],
    note: str = N_("Press RESET to start it."),
):
    """A menu of the teaching scenarios and, beside it, the chosen one's exercise text.

    Args:
        start: ``(controls, sections, about)`` the page started with
            (:func:`dashboard.controls.initial_state`); an entry of its own if
            it is no teaching scenario.
        on_pick: called with ``(controls, sections, about)`` of a picked entry.
        note: what to do next, shown under the exercise (translated with ``_``).
    """
    lang = language()
    _ = i18n.translator(lang)
    # the entries are keyed by their English labels; shown by the page's language's
    entries = solara.use_memo(choices, [])
    texts = solara.use_memo(lambda: exercises(GUIDES[lang], lang), [lang])
    loaded = solara.use_memo(
        lambda: {label: initial_state(path) for label, path in entries.items()}, []
    )
    first = next((label for label, state in loaded.items() if state[1] == dict(start[1])), None)
    started = f"the page's start ({start[2]['title']})"
    picked = solara.use_reactive(first or started)
    options = {**({} if first else {started: tuple(start)}), **loaded}
    about = start[2]
    shown = {
        label: texts.get(_relative(path), {}).get("title") or label
        for label, path in entries.items()
    }
    shown[started] = _("the page's start ({title})").format(
        title=_("Scenario: {name}").format(name=about["name"])
        if "name" in about
        else _(about["title"])
    )

    def pick(label: str) -> None:
        if label in options:
            picked.set(label)
            on_pick(*options[label])

    path = entries.get(picked.value)
    exercise = texts.get(_relative(path)) if path else None
    with (
        solara.Card(_("Exercise"), style={"overflow-x": "auto"}),
        solara.Row(style={"flex-wrap": "wrap", "align-items": "flex-start"}),
    ):
        with solara.Column(style={"flex": "0 1 22em", "min-width": "14em"}):
            solara.v.Select(
                label=_("Teaching scenario"),
                v_model=picked.value,
                items=[{"text": shown[label], "value": label} for label in options],
                on_v_model=pick,
            )
            if path:
                solara.Text(_relative(path))
        with solara.Column(style={"flex": "1 1 24em"}, classes=["exercise-text"]):
            if exercise:
                for heading, key in ((_("Question:"), "question"), (_("What to vary:"), "vary")):
                    solara.v.Html(
                        tag="p",
                        children=[solara.v.Html(tag="b", children=[heading]), f" {exercise[key]}"],
                    )
            said = _("Picking a scenario sets every control. {note}").format(note=_(note))
            solara.v.Html(tag="p", children=[said])


def _relative(path: Path) -> str:
    """A teaching scenario as the guides name it: ``scenarios/teaching/NAME.yaml``."""
    return f"scenarios/{path.parent.name}/{path.name}"
