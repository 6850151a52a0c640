"""The README: short, its commands are CI's, and every link into the repository resolves."""

import re

from docs_helpers import REPO, load_generate

generate = load_generate()
README = REPO / "README.md"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def ci_command() -> str:
    """The line of ``.ci/run`` that installs and runs the tests."""
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    (command,) = [line for line in lines if line.startswith("python3.12 -m venv")]
    return command


def commands(block) -> list[str]:
    return [line for line in block.code.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_is_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_the_first_two_blocks_are_the_main_job_and_ci_command():
    first, second = [b for b in generate.blocks(README) if b.shell][:2]
    text = README.read_text(encoding="utf-8")
    assert text.index(first.code) < text.index("## "), "the commands come before any section"
    assert commands(second) == [ci_command()]
    (main_job,) = commands(first)
    venv = "python3.12 -m venv .venv && .venv/bin/pip install -q -e "
    assert ci_command().startswith(venv + "'.[test]'")
    assert main_job == venv + ". && .venv/bin/python run.py run scenarios/compare_strategies.yaml"


def test_every_copy_of_the_test_command_is_ci_s():
    test_install = "python3.12 -m venv .venv && .venv/bin/pip install -q -e '.[test]'"
    copies = [b for b in generate.all_blocks() if b.shell and b.code.count(test_install)]
    assert len(copies) >= 2  # the README's and docs/testing.md's
    for block in copies:
        assert commands(block) == [ci_command()], str(block)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_every_link_of_the_readme_resolves():
    text = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    links = LINK.findall(text)
    assert len(links) >= 10
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # a web address
        path, _, anchor = link.partition("#")
        target = (REPO / path).resolve() if path else README
        if not target.exists() or REPO not in target.parents:
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no heading with that anchor")
    assert not broken, broken
    assert any(link.startswith("docs/") for link in links)
