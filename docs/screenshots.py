"""The report's decision screenshots in docs/img: ``python docs/screenshots.py [RESULTS_DIR]``.

Run the budget sweep first (``python run.py run scenarios/policy_budgets.yaml``);
then this script opens its ``report.html`` in the system's chromium (driven
by Playwright, as the dashboard tests do; no browser is downloaded), takes a
picture of the decision section (heading, headline, table) as
``docs/img/decision_table.png`` and copies the report's
``figures/response_curves.png`` to ``docs/img/response_curves.png``.

``python docs/screenshots.py --zh RESULTS_DIR`` takes the top of a Chinese
report instead, as ``docs/img/report_zh.png``: first ``python run.py run
scenarios/teaching_first_market.yaml``, then ``python run.py report
results/teaching_first_market --lang zh`` (which rewrites that folder's
report in Chinese; ``--lang en`` writes it back). Chromium gets crm-sim's
Noto Sans SC (:mod:`i18n.fonts`) through fontconfig: no CJK system font needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
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


def chinese_report(report: Path, target: Path) -> None:
    """Screenshot the top of a Chinese report (title, main table) into ``target``."""
    from playwright.sync_api import sync_playwright
    from pylopdf_fonts_zh_cn import sans_path

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium on PATH (Debian: apt-get install -y chromium)")
    config = IMAGES / ".fonts.conf"  # the system's fonts plus Noto Sans SC
    config.write_text(
        '<?xml version="1.0"?><fontconfig><include ignore_missing="yes">'
        f"/etc/fonts/fonts.conf</include><dir>{sans_path().parent}</dir></fontconfig>"
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(config)}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=CHROMIUM_ARGS, env=env
            )
            page = browser.new_page(viewport={"width": 1250, "height": 1100}, device_scale_factor=1)
            page.goto(report.resolve().as_uri())
            if page.evaluate("document.documentElement.lang") != "zh":
                sys.exit(
                    f"{report}: not a Chinese report; write it with run.py report DIR --lang zh"
                )
            page.screenshot(path=str(target))
            browser.close()
    finally:
        config.unlink()


def main(argv=None) -> int:
    """Write both images from a results folder of the budget sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT, help="results folder")
    parser.add_argument("--zh", action="store_true", help="the top of a Chinese report instead")
    args = parser.parse_args(argv)
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
