"""The scenario picker: the teaching scenarios, each with its exercise's text beside it.

The exercises are written once, in docs/teaching.md; :func:`exercises` reads
each one's title, question and what to vary from there, keyed by the scenario
file it names, so the page and the guide cannot drift apart. Picking a
scenario sets every control to its values; Reset starts it, as with any
changed control.
"""

import re
from collections.abc import Callable
from pathlib import Path

import solara

from .controls import initial_state

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"
"""The teachers' guide, whose ``## Exercise`` sections the picker shows."""

TEACHING = ROOT / "scenarios" / "teaching"
"""The teaching scenarios the picker offers."""

FIELDS = {"scenario": "Scenario", "question": "Question", "vary": "What to vary"}
"""The paragraphs of an exercise the page shows, by the bold label that opens them."""


def plain(markdown: str) -> str:
    """Markdown emphasis and code marks removed: the page shows plain text (no renderer)."""
    text = re.sub(r"`([^`]*)`", r"\1", markdown)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    text = re.sub(r"\*([^*]+)\*", r"\1", text)
    return " ".join(text.split())


def exercises(guide: Path = GUIDE) -> dict[str, dict[str, str]]:
    """The guide's exercises, keyed by the scenario file each names (``scenarios/...yaml``).

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
        if not title.startswith("Exercise"):
            continue
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body)]
        texts = {}
        for key, label in FIELDS.items():
            opening = f"**{label}:**"
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
    note: str = "Press RESET to start it.",
):
    """A menu of the teaching scenarios and, beside it, the chosen one's exercise text.

    Args:
        start: ``(controls, sections, about)`` the page started with
            (:func:`dashboard.controls.initial_state`); an entry of its own if
            it is no teaching scenario.
        on_pick: called with ``(controls, sections, about)`` of a picked entry.
        note: what to do next, shown under the exercise.
    """
    entries = solara.use_memo(choices, [])
    texts = solara.use_memo(exercises, [])
    loaded = solara.use_memo(
        lambda: {label: initial_state(path) for label, path in entries.items()}, []
    )
    first = next((label for label, state in loaded.items() if state[1] == dict(start[1])), None)
    started = f"the page's start ({start[2]['title']})"
    picked = solara.use_reactive(first or started)
    options = {**({} if first else {started: tuple(start)}), **loaded}

    def pick(label: str) -> None:
        if label in options:
            picked.set(label)
            on_pick(*options[label])

    path = entries.get(picked.value)
    exercise = texts.get(f"scenarios/{path.parent.name}/{path.name}") if path else None
    with (
        solara.Card("Exercise", style={"overflow-x": "auto"}),
        solara.Row(style={"flex-wrap": "wrap", "align-items": "flex-start"}),
    ):
        with solara.Column(style={"flex": "0 1 22em", "min-width": "14em"}):
            solara.Select(
                "Teaching scenario", value=picked.value, values=list(options), on_value=pick
            )
            if path:
                solara.Text(f"scenarios/{path.parent.name}/{path.name}")
        with solara.Column(style={"flex": "1 1 24em"}, classes=["exercise-text"]):
            if exercise:
                for heading, key in (("Question:", "question"), ("What to vary:", "vary")):
                    solara.v.Html(
                        tag="p",
                        children=[solara.v.Html(tag="b", children=[heading]), f" {exercise[key]}"],
                    )
            solara.v.Html(tag="p", children=[f"Picking a scenario sets every control. {note}"])
