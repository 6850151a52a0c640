"""The page's language: ``run.py app --lang zh`` sets it, the switch in the bar changes it.

Every browser session starts in the language the server was started with
(:func:`dashboard.server.page_language`) and may switch between English and
Chinese in the page's bar; :data:`chosen` holds a session's choice (a Solara
reactive: one value per browser session, like Mesa's ``update_counter``).
Components translate with ``_ = page_gettext()`` (or ``i18n.translator(lang)``),
never with the process-wide :func:`i18n.language`, since one server serves
every session at once. Figures take ``lang`` and set their text's fonts with
:func:`figure_fonts` (Chinese needs Noto Sans SC, :mod:`i18n.fonts`).
"""

import solara
from matplotlib.figure import Figure
from matplotlib.text import Text

import i18n
from i18n import fonts

from .server import page_language

NAMES = {"en": "English", "zh": "中文"}
"""How the switch names each language: in that language."""

chosen = solara.reactive(None)
"""The language a browser session switched to, or ``None``: the server's (:func:`language`)."""


def language() -> str:
    """The language this browser session speaks: its choice, else the server's."""
    return chosen.value or page_language()


def page_gettext():
    """The function that translates into this session's language (``_``)."""
    return i18n.translator(language())


def figure_fonts(figure: Figure, lang: str) -> Figure:
    """``figure``'s text in ``lang``'s fonts (Chinese: DejaVu Sans, then Noto Sans SC); marked.

    English figures are left exactly as they were drawn. Per text object, not
    through matplotlib's global settings, which every session's drawing shares.
    """
    family = fonts.rc(lang).get("font.family")
    if family:
        for text in figure.findobj(Text):
            text.set_fontfamily(family)
    figure.crm_lang = lang
    return figure


def reusable(figure: Figure | None, lang: str) -> Figure | None:
    """``figure`` if it was drawn in ``lang`` (to be redrawn in place), else ``None``."""
    return figure if getattr(figure, "crm_lang", None) == lang else None


@solara.component
def LanguageSwitch():
    """English / 中文, for this browser session."""
    solara.ToggleButtonsSingle(
        value=language(),
        on_value=chosen.set,
        children=[solara.Button(NAMES[lang], value=lang, text=True) for lang in i18n.LANGUAGES],
        classes=["crm-language"],
    )
