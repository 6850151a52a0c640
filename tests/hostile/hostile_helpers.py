"""Helpers of the hostile-input tests (imported by name, like tests/docs/docs_helpers.py)."""

# the section headings every report has, whatever the runs (analysis/report.py, build)
SECTIONS = (
    "# Report: ",
    "## Which strategy wins where",
    "## Money: CLV, equity drivers, firm value",
    "## Retention: who stays, who leaves, from where and why",
)


def one_line_error(err: str) -> str:
    """The single line a user error prints (no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]
