"""Shared helpers of the hostile-input tests: write a scenario, run the command line in process."""

import textwrap
from pathlib import Path

import pytest

from cli.main import main


@pytest.fixture
def write(tmp_path):
    """Write dedented YAML text to ``tmp_path/<name>`` and return the path."""

    def write_text(text: str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write_text


@pytest.fixture
def cli(capsys):
    """``cli(*args)`` -> (exit code, stdout, stderr) of ``run.py ARGS`` run in this process."""

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
