"""Helpers of the browser tests: the served dashboard and Debian's chromium."""

import contextlib
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
UI_TIMEOUT = 20_000  # milliseconds for one page change


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def dashboard_server(log_path: Path, scenario: Path | None = None):
    """The dashboard on 127.0.0.1, as `run.py app` serves it; yields URL and log; always stopped."""
    port = free_port()
    env = server_environment(scenario)
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
        yield url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
