"""Chinese text in the plots renders with real glyphs: no missing-glyph warning."""

import warnings

import matplotlib.pyplot as plt

from analysis import render


def _chinese_plot():
    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1], label="扣钩")
    axis.set_title("各客户生命周期阶段：考察期、形成期、稳定期、退化期")
    axis.set_xlabel("转移成本（0-1）")
    axis.legend()
    return figure


def _glyph_warnings(lang):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = render.png(_chinese_plot, lang)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_a_chinese_plot_has_no_missing_glyph():
    assert _glyph_warnings("zh") == []


def test_without_the_cjk_font_the_glyphs_would_be_missing():
    """The check above can fail: English settings draw the same text in DejaVu Sans only."""
    assert _glyph_warnings("en")


def test_english_figures_keep_matplotlib_s_settings():
    from i18n import fonts

    assert fonts.rc("en") == {}
    assert fonts.rc("zh")["font.family"][0] == "DejaVu Sans"
