"""A CJK font for the plots: Noto Sans SC, from the ``pylopdf-fonts-zh-cn`` package.

matplotlib's own font, DejaVu Sans, has no Chinese glyphs: a Chinese title
would draw as empty boxes ("Glyph ... missing from font(s) DejaVu Sans").
crm-sim depends on ``pylopdf-fonts-zh-cn`` (PyPI; Noto Sans SC and Noto Serif
SC, SIL Open Font License 1.1, which allows bundling and redistribution), so
every install, a fresh machine's too, has the font without a system package.

:func:`rc` registers it with matplotlib the first time (``addfont``, no font
cache rebuild) and returns the settings under which a figure is drawn: for
Chinese, DejaVu Sans first (Latin letters and digits look as in English) and
Noto Sans SC as the fallback for every glyph DejaVu Sans lacks; for English,
nothing changes, so English figures stay pixel for pixel as they were.
"""

from __future__ import annotations

import functools

FAMILY = "Noto Sans SC"


@functools.cache
def cjk_font_path() -> str:
    """The Noto Sans SC file, registered with matplotlib's font manager."""
    from matplotlib import font_manager
    from pylopdf_fonts_zh_cn import sans_path

    path = str(sans_path())
    font_manager.fontManager.addfont(path)
    return path


def rc(lang: str) -> dict:
    """The matplotlib settings for figures in ``lang`` (use with ``matplotlib.rc_context``)."""
    if lang == "en":
        return {}
    cjk_font_path()
    return {"font.family": ["DejaVu Sans", FAMILY]}
