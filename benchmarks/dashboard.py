"""Time the teaching dashboard in a browser: first page, Play over 120 months, Pause, a class.

Usage::

    python -m benchmarks.dashboard [--customers N] [--months T] [--repeat R] [--sessions S]

Starts the dashboard as ``python run.py app`` does (on a free port of
127.0.0.1, a scenario of three firms, clasp, zipper and velcro, with ``N``
customers and ``T`` months; default 10,000 and 120) and drives it with the
system's chromium through Playwright (``pip install -e '.[test]'``; no browser
is downloaded). It reports, as JSON on stdout:

* ``first_page_seconds``: from starting ``run.py app`` to the page's Step
  button in the browser. The engine's compiled kernels must be cached
  (``python run.py prepare``); otherwise this includes compiling them.
* ``play_seconds``: ``R`` times (each on a fresh page, i.e. a fresh model),
  from clicking ▶ to the page showing month ``T``, with their median.
* ``pause_seconds``: ``R`` times, playing for two seconds, then from
  clicking ❚❚ to the last change of the page's month counter (0 if it did
  not change after the click), with their median.
* with ``--sessions S``: ``S`` browser contexts (students) press ▶ at once;
  each one's time to month ``T``, and their median.

A Play that has not reached month ``T`` after ``--limit`` seconds (default
600) is reported as the month it reached by then.

Times are wall-clock (``time.monotonic``) in this process, which also runs
the browser: on a machine with two cores the browser's own work counts.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SCENARIO = """\
name: benchmark
description: The dashboard's benchmark market.
firms:
  - {{name: A, strategy: clasp}}
  - {{name: B, strategy: zipper}}
  - {{name: C, strategy: velcro}}
simulation: {{customers: {customers}, periods: {months}}}
"""
TIMEOUT_MS = 600_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(scenario: Path, port: int, log) -> subprocess.Popen:
    command = [sys.executable, "run.py", "app", str(scenario), "--port", str(port)]
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the dashboard exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the dashboard did not answer within {timeout:.0f} s")


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Step").wait_for()
    return context, page


def play_button(page):
    return page.get_by_role("button", name="▶")


def counter(page) -> str:
    return page.get_by_text("Time: ").first.inner_text()


def wait_for_month(page, months: int, started: float, limit: float) -> float | str:
    """Seconds from ``started`` to month ``months`` on the page, or ``"month N at LIMIT s"``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    left = max(limit - (time.monotonic() - started), 0.001)
    try:
        page.get_by_text(f"Time: {months}.0", exact=True).wait_for(timeout=left * 1000)
    except PlaywrightTimeout:
        reached = int(float(counter(page).split()[1]))
        return f"month {reached} at {limit:.0f} s"
    return round(time.monotonic() - started, 2)


def time_play(page, months: int, limit: float) -> float | str:
    play_button(page).click()
    return wait_for_month(page, months, time.monotonic(), limit)


def time_pause(page) -> float:
    """Seconds from clicking ❚❚ to the last change of the month counter."""
    play_button(page).click()
    page.wait_for_timeout(2_000)
    page.get_by_role("button", name="❚❚").click()
    clicked = time.monotonic()
    last_change, shown = clicked, counter(page)
    while time.monotonic() - clicked < 5.0:
        now = counter(page)
        if now != shown:
            shown, last_change = now, time.monotonic()
        page.wait_for_timeout(20)
    return last_change - clicked


def time_class(browser, url: str, months: int, sessions: int, limit: float) -> list:
    """Each of ``sessions`` students' Play time to ``months``, all pressing ▶ at once."""
    pages = [open_page(browser, url) for _ in range(sessions)]
    try:
        for _, page in pages:
            play_button(page).click()
        started = time.monotonic()
        return [wait_for_month(page, months, started, limit) for _, page in pages]
    finally:
        for context, _ in pages:
            context.close()


def measure(args) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on PATH (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "benchmark.yaml"
        scenario.write_text(SCENARIO.format(customers=args.customers, months=args.months))
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        with (Path(folder) / "server.log").open("w") as log:
            started = time.monotonic()
            server = start_server(scenario, port, log)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                wait_for_http(url, server)
                context, _ = open_page(browser, url)
                result = {"first_page_seconds": round(time.monotonic() - started, 2)}
                context.close()
                plays, pauses = [], []
                for _ in range(args.repeat):  # 0: only the first page (and --sessions)
                    context, page = open_page(browser, url)
                    plays.append(time_play(page, args.months, args.limit))
                    context.close()
                    context, page = open_page(browser, url)
                    pauses.append(round(time_pause(page), 2))
                    context.close()
                result |= {
                    "play_seconds": plays,
                    "play_median": median(plays),
                    "pause_seconds": pauses,
                    "pause_median": median(pauses),
                }
                if args.sessions:
                    times = time_class(browser, url, args.months, args.sessions, args.limit)
                    result |= {
                        "sessions": args.sessions,
                        "class_play_seconds": times,
                        "class_play_median": median(times),
                        "class_finished": sum(isinstance(t, float) for t in times),
                    }
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return result


def median(times: list) -> float | str | None:
    """The median of the times, or a note when some did not finish within the limit."""
    if not times:
        return None
    if all(isinstance(t, float) for t in times):
        return statistics.median(times)
    return f"{sum(not isinstance(t, float) for t in times)} of {len(times)} did not finish"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=5, help="Play and Pause timings")
    parser.add_argument("--sessions", type=int, default=0, help="students pressing ▶ at once")
    parser.add_argument(
        "--limit", type=float, default=600.0, help="seconds a Play may take before it is cut off"
    )
    args = parser.parse_args(argv)
    result = {
        "customers": args.customers,
        "months": args.months,
        "cores": os.cpu_count(),
        **measure(args),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
