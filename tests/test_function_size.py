"""No function in sim/ over 80 lines without a reason in its docstring (issue 21).

A function's lines run from its ``def`` to its last line, docstring and
nested functions included (a builder of closures counts with its closures).
A longer function says why in its docstring, in a sentence that starts
"Over 80 lines" (``sim.stages.transition_probabilities``: its sixteen
parameters, one a line, and their description).
"""

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parents[1] / "sim"
LIMIT = 80


def long_functions() -> list[tuple[str, int, str]]:
    """``(where, lines, docstring)`` of every function in sim/ over :data:`LIMIT` lines."""
    found = []
    for path in sorted(SIM.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > LIMIT:
                    where = f"sim/{path.name}:{node.lineno} {node.name}"
                    found.append((where, lines, ast.get_docstring(node) or ""))
    return found


def test_every_long_function_in_sim_says_why():
    unexplained = [
        f"{where} ({lines} lines)"
        for where, lines, docstring in long_functions()
        if f"over {LIMIT} lines" not in " ".join(docstring.lower().split())
    ]
    assert not unexplained, (
        f"functions over {LIMIT} lines: split them into named pieces, or say why in the "
        f'docstring ("Over {LIMIT} lines ..."):\n' + "\n".join(unexplained)
    )
