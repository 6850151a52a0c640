"""The documentation site builds with ``mkdocs build --strict``: no warning at all."""

import subprocess
import sys

import pytest
from docs_helpers import REPO


def test_the_site_builds_without_a_warning(tmp_path):
    pytest.importorskip("mkdocs")  # in the test extra
    site = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # strict turns every warning (a broken link or anchor, a page left out of the nav) into an
    # error; the log also says WARNING for each
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stderr
    for page in (
        "index.html",
        "model/index.html",
        "scenario-reference/index.html",
        "img/equity.png",
    ):
        assert (site / page).exists(), page
