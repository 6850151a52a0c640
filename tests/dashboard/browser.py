"""Helpers of the browser tests: the served dashboard and Debian's chromium.

A browser test that cannot run (no chromium, or it does not start) fails in
CI (``CI=true``, as ``.ci/run`` sets it) and skips, saying why, elsewhere:
:func:`unavailable`, :func:`launch_chromium`.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard.server import server_command, server_environment

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 40.0  # seconds for the server to answer
UI_TIMEOUT = 60_000
"""Milliseconds for one page change. A quiet machine takes about a second; under the full
suite on 2 cores (two test workers, their browsers and servers) one took over 20 s in CI.
These tests check what the page does, not how fast: benchmarks/dashboard.py times it."""


def in_ci() -> bool:
    """Whether these tests run in CI (``CI=true``), where a browser test that cannot run fails."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """A browser test cannot run: fail in CI, skip (saying why) on a developer's machine."""
    if in_ci():
        pytest.fail(f"CI=true and the browser test cannot run: {reason}", pytrace=False)
    pytest.skip(f"{reason} (in CI, with CI=true, this fails instead)")


def require_chromium() -> str:
    """The path of Debian's chromium, or fail in CI / skip elsewhere (:func:`unavailable`)."""
    if CHROMIUM is None:
        unavailable(
            "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does this)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        unavailable(f"Playwright is not installed ({error}; pip install -e '.[test]')")
    return CHROMIUM


@contextlib.contextmanager
def launch_chromium():
    """Playwright's chromium on the system's binary, closed afterwards; fails or skips if it
    does not start (:func:`unavailable`)."""
    executable = require_chromium()
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
            )
        except Error as error:
            unavailable(f"chromium ({executable}) does not start: {error}")
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int = 1600, height: int = 1400):
    """A new browser context (a user of their own) with the page at ``url`` loaded.

    Returns the context and its page, once the page shows its Step button; every
    wait on the page has :data:`UI_TIMEOUT`.
    """
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(url)
    page.get_by_role("button", name="Step").wait_for()
    return context, page


def step_to(page, month: int) -> None:
    """Press Step and wait until the month counter (Mesa's "Time: N.0") reads ``month``."""
    page.get_by_role("button", name="Step").click()
    page.get_by_text(f"Time: {month}.0").wait_for()


def typed_value(page, label: str):
    """The text field beside the slider labelled ``label``."""
    return page.locator(".crm-control").filter(has_text=label).locator("input[type=text]")


def resident_mb(pid: int) -> float:
    """The resident set size of process ``pid`` now, in MB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def dashboard_server(log_path: Path, scenario: Path | None = None, lang: str = "en"):
    """The dashboard on 127.0.0.1, as `run.py app [--lang LANG]` serves it; always stopped.

    Yields the URL, the log file and the server's process id.
    """
    port = free_port()
    env = server_environment(scenario, lang)
    # any asset the page would fetch from the internet goes to a closed local port instead
    env["SOLARA_ASSETS_CDN"] = "http://127.0.0.1:9/"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            server_command("127.0.0.1", port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"server did not answer in {START_TIMEOUT} s:\n{log_path.read_text()}"
                    )
                time.sleep(0.3)
        yield url, log_path, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
