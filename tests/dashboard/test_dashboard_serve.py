"""dashboard.serve, as `python run.py app SCENARIO.yaml` calls it: starts and stops Solara."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "teaching" / "what_switching_cost_buys.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def test_serve_starts_the_page_and_stops_it_on_sigterm(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    code = (
        f"from dashboard import serve; "
        f"raise SystemExit(serve({str(SCENARIO)!r}, host='127.0.0.1', port={port}))"
    )
    log = (tmp_path / "serve.log").open("w", encoding="utf-8")
    # a session of its own, so that cleanup can reach a server left behind
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert wait_until(lambda: answers(url), 40), (tmp_path / "serve.log").read_text()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        # the Solara server it started is gone too
        assert wait_until(lambda: not answers(url), 15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group this test started
        process.wait(timeout=10)
        log.close()
