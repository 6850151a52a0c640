"""The dashboard in Chinese and in English, read off the page in chromium (issue 26).

Both tests drive the page through the same steps (:func:`visit`): three
months, keep the run, run ten seeds, follow a customer, a refused typed
value, the strategy menu opened; then read every text the page shows
(:func:`shown_text`). In Chinese (``run.py app --lang zh``) no English word
may be left, apart from :data:`ALLOWED`; in English the page must read as
it did before the Chinese labels: the same text as
``dashboard_english_page.txt``, written from main before this change (commit
a31e12c) by ``python -m tests.dashboard.test_dashboard_language_browser``,
with the digits masked (the labels are compared, not the market's numbers)
and without the language switch, which is new.
"""

import re
import sys
from pathlib import Path

import pytest

import i18n
from tests.dashboard.browser import UI_TIMEOUT, dashboard_server, launch_chromium

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).with_name("dashboard_english_page.txt")
HORIZON = 6
SCENARIO = f"""\
name: short
firms:
  - {{name: A, strategy: clasp}}
  - {{name: B, strategy: zipper}}
  - {{name: C, strategy: velcro}}
simulation: {{customers: 300, periods: {HORIZON}}}
"""
"""A short market, so that ten seeds run in seconds; its name is the only text of its own."""

ALLOWED = (
    "crm-sim",  # the program's name
    "English",  # the language switch names each language in that language
    "short",  # the scenario's name, as its file writes it
    "This website runs on Solara",  # the web framework's credit, in its corner (not crm-sim's)
)
"""Words that may stay in Latin letters on the Chinese page (firm names are single letters,
and the multiplier's x is one letter: neither is a word here)."""


def english_words(text: str) -> list[str]:
    """The words of two or more Latin letters in ``text``, less :data:`ALLOWED` and file paths."""
    text = re.sub(r"\S*/\S*\.yaml", " ", text)  # a scenario file's path, as the guide names it
    for allowed in ALLOWED:
        text = text.replace(allowed, " ")
    return re.findall(r"[A-Za-z]{2,}", text)


def visit(page, url: str, lang: str) -> str:
    """Drive the page through the steps of both tests; return :func:`shown_text`."""
    _ = i18n.translator(lang) if lang in i18n.LANGUAGES else (lambda text: text)
    page.goto(url)
    step = page.get_by_role("button", name=_("Step"))
    step.wait_for()
    for month in (1, 2, 3):
        step.click()
        page.get_by_text(_("Time: {time}").format(time=f"{month}.0"), exact=True).wait_for()
    page.get_by_role("button", name=_("Keep this run")).click()
    page.get_by_text(_("Dashed: the kept run ({run}).").split("{run}")[0]).wait_for()
    page.get_by_role("button", name=_("Run 10 seeds")).click()
    page.locator(".spread-value").first.wait_for(timeout=90_000)
    page.get_by_role("button", name=_("Find customers worth following")).click()
    page.get_by_role("button", name=re.compile("^" + re.escape(_("Longest relationship")))).click()
    page.locator(".follow-now").wait_for()
    typed = page.locator(".crm-control").filter(has_text=_("Number of customers"))
    typed.locator("input[type=text]").fill("50000")
    typed.locator("input[type=text]").press("Enter")
    page.locator(".v-alert").filter(has_text="50000").wait_for()
    menu = page.locator(".v-select").filter(has_text=_("Firm {name}: strategy").format(name="A"))
    menu.click()
    page.get_by_role("option").first.wait_for()
    options = [option.inner_text() for option in page.get_by_role("option").all()]
    page.keyboard.press("Escape")
    page.wait_for_timeout(1_000)  # the last pictures and texts arrive
    return shown_text(page) + "\n" + "\n".join(options)


def shown_text(page) -> str:
    """The page's title and every text it shows (not the language switch), line by line."""
    text = page.evaluate(
        """() => {
            const switches = [...document.querySelectorAll('.crm-language')];
            for (const e of switches) e.style.display = 'none';
            const text = document.title + '\\n' + document.body.innerText;
            for (const e of switches) e.style.display = '';
            return text;
        }"""
    )
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def masked(text: str) -> str:
    """``text`` with every run of digits (and the separators inside numbers) as ``#``."""
    return re.sub(r"\d+(?:[.,]\d+)*", "#", text)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    path = tmp_path_factory.mktemp("language") / "short.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def read_page(scenario: Path, lang: str, then=None) -> str:
    """The text of the page served in ``lang`` after :func:`visit` (then ``then(page)``)."""
    options = {} if lang == "en" else {"lang": lang}
    with (
        dashboard_server(scenario.parent / f"server-{lang}.log", scenario, **options) as served,
        launch_chromium() as browser,
    ):
        url, log_path, _pid = served
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        page.set_default_timeout(UI_TIMEOUT)
        text = visit(page, url, lang)
        if then is not None:
            then(page)
        assert "Traceback" not in log_path.read_text(encoding="utf-8")
    return text


def switch_to_chinese(page) -> None:
    """The switch in the bar: this session's page in Chinese, its market as it was."""
    switch = page.locator(".crm-language")
    assert switch.locator("button").all_inner_texts() == ["ENGLISH", "中文"]
    switch.get_by_role("button", name="中文").click()
    page.get_by_role("button", name="单步").wait_for()
    page.get_by_text("监测：第 3 个月").wait_for()  # the same model, three months on
    page.get_by_text("第 3 个月，共 6 个月。").wait_for()


def test_the_chinese_page_has_no_english_label_left(scenario):
    text = read_page(scenario, "zh")
    assert "企业 A" in text and "稳定期" in text and "扣钩" in text  # it did speak Chinese
    assert english_words(text) == [], text


def test_the_english_page_reads_as_before_and_switches_to_chinese(scenario):
    text = read_page(scenario, "en", then=switch_to_chinese)
    assert masked(text) == GOLDEN.read_text(encoding="utf-8").rstrip("\n")


def test_the_check_finds_an_english_word():
    assert english_words("企业 A：策略 Firm crm-sim short x1.0 scenarios/teaching/a.yaml") == [
        "Firm"
    ]


def main(argv=None) -> int:
    """``python -m tests.dashboard.test_dashboard_language_browser``: write :data:`GOLDEN`.

    Run on the code whose English page is the reference (main before the Chinese labels).
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="crm-sim-golden-") as folder:
        path = Path(folder) / "short.yaml"
        path.write_text(SCENARIO, encoding="utf-8")
        GOLDEN.write_text(masked(read_page(path, "en")) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
