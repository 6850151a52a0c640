"""The shell blocks of the README and the docs run as printed, in a copy of the repository.

Each fenced ``bash``/``sh`` block carries a marker on the line before it:
``<!-- run -->``, ``<!-- run: slow -->`` or ``<!-- skip: REASON -->``; a ``python``
block marked ``<!-- run -->`` runs too (``docs/generate.py`` parses them). A page's
runnable blocks run in order, each in a fresh shell, in one temporary copy of the
repository per page (the files git tracks and the kernels' compiled cache), so
that a block may use what an earlier block of its page wrote, and the checkout is
never written to. ``python`` is this interpreter (first on ``PATH``), and
``.venv`` in the copy points at its environment, so ``.venv/bin/python`` works as
after the README's install. Every skipped block is reported as a skipped test
with its reason (``pytest -rs tests/docs``).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from docs_helpers import REPO, load_generate

generate = load_generate()

RUN_LIMIT = 300
"""Seconds a ``run`` block may take (seconds on a quiet machine; CI's may be busy)."""

SLOW_LIMIT = 900
"""Seconds a ``run: slow`` block may take."""

NOT_COPIED = {
    ".git",
    ".venv",
    "results",
    "site",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".import_linter_cache",
    "build",
}

BLOCKS = generate.all_blocks()
RUNNABLE = defaultdict(list)
for _block in BLOCKS:
    if _block.runs:
        RUNNABLE[_block.page].append(_block)
SKIPPED = [b for b in BLOCKS if b.shell and b.action == "skip"]


def tracked_files() -> list[Path]:
    """The files of the checkout: git's tracked and untracked-but-not-ignored ones."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        return [Path(p) for p in listed.decode().split("\0") if p]
    except (OSError, subprocess.SubprocessError):  # not a git checkout: walk it
        return [
            p.relative_to(REPO)
            for p in REPO.rglob("*")
            if p.is_file() and not NOT_COPIED & set(p.relative_to(REPO).parts)
        ]


@pytest.fixture(scope="module")
def compiled_kernels():
    """Make sure the kernels' machine code is in the checkout's numba cache.

    In a process of its own (compiling here would start numba's threads in the test
    process). numba keys its cache on the source files' times, which the copies keep,
    so each copy loads it instead of compiling for a minute.
    """
    subprocess.run(
        [sys.executable, "-c", "import sim; sim.warm_up()"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=900,
    )
    return REPO / "sim" / "__pycache__"


def copy_repository(target: Path, cache: Path) -> Path:
    """A copy of the checkout's files in ``target``, with the numba cache and ``.venv``."""
    for relative in tracked_files():
        source = REPO / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)  # keeps the time numba's cache checks
    (target / "sim" / "__pycache__").mkdir(exist_ok=True)
    for cached in cache.glob("*.nb[ic]"):
        shutil.copy2(cached, target / "sim" / "__pycache__" / cached.name)
    (target / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return target


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env.pop("PYTHONPATH", None)
    return env


def run_block(block, where: Path) -> tuple[int, str, float]:
    """Run one block in ``where``; return its exit code, its output and the seconds it took."""
    if block.language == "python":
        command, stdin = [sys.executable, "-"], block.code
    else:
        command, stdin = ["bash", "-e", "-o", "pipefail", "-c", block.code], None
    limit = SLOW_LIMIT if block.action == "slow" else RUN_LIMIT
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=where,
        env=environment(),
        text=True,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # its own group: a timeout ends it all
    try:
        output, _ = process.communicate(stdin, timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return -1, f"{output}\n[stopped after the limit of {limit} s]", time.monotonic() - start
    return process.returncode, output, time.monotonic() - start


def _page_param(page: str):
    slow = any(b.action == "slow" for b in RUNNABLE[page])
    return pytest.param(page, id=page, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("page", [_page_param(page) for page in RUNNABLE])
def test_the_blocks_of_a_page_run(page, tmp_path, compiled_kernels):
    where = copy_repository(tmp_path / "repo", compiled_kernels)
    timings = []
    for block in RUNNABLE[page]:
        code, output, seconds = run_block(block, where)
        timings.append(f"{block}: {seconds:.0f} s")
        assert code == 0, (
            f"the {block.language} block at {block} exited with {code}:\n"
            f"{block.code}\n--- its output (end) ---\n{output[-4000:]}"
        )
    print("\n".join(timings))


@pytest.mark.parametrize("block", SKIPPED, ids=str)
def test_a_skipped_block_says_why(block):
    assert block.reason
    pytest.skip(f"{block.page} ({block.heading}): {block.reason}")


def test_the_docs_have_runnable_blocks():
    assert "README.md" in RUNNABLE and "docs/scenarios.md" in RUNNABLE
    assert sum(len(blocks) for blocks in RUNNABLE.values()) >= 10
