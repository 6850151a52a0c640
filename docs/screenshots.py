"""Screenshots in docs/img: the report's decision, and the dashboard on a class's screens.

``python docs/screenshots.py --dashboard`` starts the dashboard (``run.py
app``, on a free port of 127.0.0.1), steps it a year and writes
``docs/img/dashboard_1400x1000.png``, ``dashboard_1366x768.png`` and
``dashboard_1024x768.png`` (:data:`SCREENS`), saying whether any of them
scrolls sideways (tests/dashboard/test_dashboard_fast.py checks the same
pages). ``python docs/screenshots.py --dashboard --lang zh`` does the same
with the page in Chinese (``run.py app --lang zh``), as
``docs/img/dashboard_zh_WIDTHxHEIGHT.png``.

``python docs/screenshots.py [RESULTS_DIR]``: run the budget sweep first
(``python run.py run scenarios/policy_budgets.yaml``); then this script opens
its ``report.html`` in the system's chromium (driven by Playwright, as the
dashboard tests do; no browser is downloaded), takes a picture of the
decision section (heading, headline, table) as ``docs/img/decision_table.png``
and copies the report's ``figures/response_curves.png`` to
``docs/img/response_curves.png``.

``python docs/screenshots.py --zh RESULTS_DIR`` takes the top of a Chinese
report instead, as ``docs/img/report_zh.png``: first ``python run.py run
scenarios/teaching_first_market.yaml``, then ``python run.py report
results/teaching_first_market --lang zh`` (which rewrites that folder's
report in Chinese; ``--lang en`` writes it back). Chromium gets crm-sim's
Noto Sans SC (:mod:`i18n.fonts`) through fontconfig: no CJK system font needed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "img"
DEFAULT = REPO / "results" / "policy_budgets"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def decision_table(report: Path, target: Path) -> None:
    """Screenshot the report's first section (the decision) into ``target``."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH (Debian: apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1250, "height": 900}, device_scale_factor=1)
        page.goto(report.resolve().as_uri())
        # the decision section: from its heading to the table that ends it
        box = page.evaluate(
            """() => {
                const heading = [...document.querySelectorAll('h2')]
                    .find(h => h.textContent.startsWith('Decision'));
                let node = heading, table = null;
                while (node && !table) {
                    node = node.nextElementSibling;
                    if (node && node.tagName === 'TABLE') table = node;
                }
                const top = heading.getBoundingClientRect();
                const end = table.getBoundingClientRect();
                const width = Math.max(end.right, top.right) - top.left;
                return {x: top.left - 8, y: top.top + window.scrollY - 8,
                        width: width + 16, height: end.bottom - top.top + 16};
            }"""
        )
        page.screenshot(path=str(target), clip=box, full_page=True)
        browser.close()


SCREENS = ((1400, 1000), (1366, 768), (1024, 768))
"""Viewports (CSS pixels) of the dashboard's screenshots: a desktop, laptops, projectors."""

LAYOUT = """() => {
    const root = document.documentElement;
    // hidden helpers (a resize detector's scroll boxes) are not seen and do not count
    const sideways = [...document.querySelectorAll('*')].filter(e =>
        e.scrollWidth > e.clientWidth + 1
        && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
        && getComputedStyle(e).visibility === 'visible');
    return {
        page: root.scrollWidth, viewport: root.clientWidth,
        scrolling: sideways.map(e => e.tagName + '.' + e.className),
        plots: [...document.querySelectorAll('img')].map(
            i => [Math.round(i.getBoundingClientRect().width), i.naturalWidth]),
    };
}"""
"""What the no-sideways-scrolling check reads from the page: its width and the viewport's,
the elements that scroll sideways, and each plot's shown and drawn width."""


def dashboard_layout(page) -> dict:
    """The page's :data:`LAYOUT`, plus ``fits``: nothing scrolls sideways."""
    layout = page.evaluate(LAYOUT)
    layout["fits"] = layout["page"] <= layout["viewport"] and not layout["scrolling"]
    return layout


def dashboard_screenshots(
    browser, url: str, folder: Path, months: int = 12, lang: str = "en"
) -> dict:
    """Open the dashboard at each of :data:`SCREENS`, step ``months``, screenshot into ``folder``.

    Returns:
        ``{"WIDTHxHEIGHT": dashboard_layout(...)}`` for each screen.
    """
    import i18n

    _ = i18n.translator(lang)
    prefix = "dashboard" if lang == "en" else f"dashboard_{lang}"
    layouts = {}
    for width, height in SCREENS:
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
        page.set_default_timeout(60_000)
        page.goto(url)
        step = page.get_by_role("button", name=_("Step"))
        for month in range(1, months + 1):
            step.click()
            page.get_by_text(_("Time: {time}").format(time=f"{month}.0"), exact=True).wait_for()
        page.wait_for_timeout(1_000)  # the last pictures arrive
        name = f"{width}x{height}"
        layouts[name] = dashboard_layout(page)
        page.screenshot(path=str(folder / f"{prefix}_{name}.png"))
        page.close()
    return layouts


def dashboard(folder: Path, lang: str = "en") -> int:
    """Serve the dashboard (``run.py app``), write its screenshots, stop it; 1 if one scrolls."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH (Debian: apt-get install -y chromium)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        [sys.executable, "run.py", "app", "--port", str(port), "--lang", lang], cwd=REPO
    )
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the dashboard did not start")
                time.sleep(0.3)
        with sync_playwright() as playwright, cjk_fonts() as env:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=CHROMIUM_ARGS, env=env if lang != "en" else None
            )
            layouts = dashboard_screenshots(browser, url, folder, lang=lang)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    prefix = "dashboard" if lang == "en" else f"dashboard_{lang}"
    for name, layout in layouts.items():
        print(f"{folder / f'{prefix}_{name}.png'}: {'fits' if layout['fits'] else layout}")
    return 0 if all(layout["fits"] for layout in layouts.values()) else 1


@contextlib.contextmanager
def cjk_fonts():
    """Chromium's environment with crm-sim's Noto Sans SC (:mod:`i18n.fonts`) through fontconfig.

    No CJK system font needed; the configuration file lives in a temporary folder.
    """
    from pylopdf_fonts_zh_cn import sans_path

    with tempfile.TemporaryDirectory(prefix="crm-sim-fonts-") as folder:
        config = Path(folder) / "fonts.conf"  # the system's fonts plus Noto Sans SC
        config.write_text(
            '<?xml version="1.0"?><fontconfig><include ignore_missing="yes">'
            f"/etc/fonts/fonts.conf</include><dir>{sans_path().parent}</dir></fontconfig>"
        )
        yield {**os.environ, "FONTCONFIG_FILE": str(config)}


def chinese_report(report: Path, target: Path) -> None:
    """Screenshot the top of a Chinese report (title, main table) into ``target``."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH (Debian: apt-get install -y chromium)")
    with cjk_fonts() as env, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, env=env)
        page = browser.new_page(viewport={"width": 1250, "height": 1100}, device_scale_factor=1)
        page.goto(report.resolve().as_uri())
        if page.evaluate("document.documentElement.lang") != "zh":
            sys.exit(f"{report}: not a Chinese report; write it with run.py report DIR --lang zh")
        page.screenshot(path=str(target))
        browser.close()


def main(argv=None) -> int:
    """Write the report's images from a results folder of the budget sweep, or the dashboard's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT, help="results folder")
    parser.add_argument("--zh", action="store_true", help="the top of a Chinese report instead")
    parser.add_argument(
        "--dashboard", action="store_true", help="screenshot the dashboard at SCREENS instead"
    )
    parser.add_argument(
        "--lang",
        choices=("en", "zh"),
        default="en",
        help="with --dashboard: the page's language (zh: dashboard_zh_*.png)",
    )
    args = parser.parse_args(argv)
    if args.dashboard:
        IMAGES.mkdir(exist_ok=True)
        return dashboard(IMAGES, args.lang)
    report = args.folder / "report.html"
    if args.zh:
        if not report.exists():
            sys.exit(f"{report}: no report; run: python run.py report {args.folder} --lang zh")
        IMAGES.mkdir(exist_ok=True)
        chinese_report(report, IMAGES / "report_zh.png")
        print(f"wrote {IMAGES / 'report_zh.png'}")
        return 0
    if not report.exists():
        sys.exit(f"{report}: no report; run: python run.py run scenarios/policy_budgets.yaml")
    IMAGES.mkdir(exist_ok=True)
    decision_table(report, IMAGES / "decision_table.png")
    shutil.copyfile(args.folder / "figures" / "response_curves.png", IMAGES / "response_curves.png")
    print(f"wrote {IMAGES / 'decision_table.png'} and {IMAGES / 'response_curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
