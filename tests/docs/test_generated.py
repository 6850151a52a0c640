"""The generated docs are up to date, and every shell block says whether it runs."""

from docs_helpers import load_generate

generate = load_generate()


def test_the_generated_docs_are_up_to_date():
    stale = [str(path.relative_to(generate.REPO)) for path in generate.stale()]
    assert not stale, f"out of date: {', '.join(stale)}; run python docs/generate.py and commit"


def test_the_scenario_reference_lists_every_key_of_the_schema():
    from sim.config import Config, FirmConfig, MarketConfig, RelationshipConfig

    text = (generate.DOCS / "scenario-reference.md").read_text(encoding="utf-8")
    for section, model in [
        ("market", MarketConfig),
        ("relationship", RelationshipConfig),
        ("firms.*", FirmConfig),
    ]:
        for name in model.model_fields:
            assert f"`{section}.{name}`" in text, (section, name)
    for name in Config.model_fields:
        assert f"`{name}`" in text
    assert "| `firms.*.price` | number | (0, 10] | 0.95 / 1.1 / 1.05 |" in text  # per strategy
    assert "| `market.search_probability` | number | [0, 1] | 0.1 / 0.11 |" in text  # per setting


def test_every_shell_block_is_marked_run_or_skip():
    unmarked = [str(b) for b in generate.all_blocks() if b.shell and b.action is None]
    assert not unmarked, (
        "shell blocks without <!-- run -->, <!-- run: slow --> or "
        f"<!-- skip: REASON --> on the line before: {', '.join(unmarked)}"
    )
    reasonless = [str(b) for b in generate.all_blocks() if b.action == "skip" and not b.reason]
    assert not reasonless, f"skip markers without a reason: {', '.join(reasonless)}"


def test_the_block_parser_reads_markers_sections_and_indented_fences(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## A section\n\n<!-- run: slow -->\n```bash\necho a\n```\n\n"
        "- item\n\n  <!-- skip: needs a\n  cluster -->\n  ```sh\n  echo b\n  ```\n\n"
        "```\n# not a heading\n```\n\n```python\nprint(1)\n```\n"
    )
    slow, skipped, python = generate.blocks(page, root=tmp_path)
    assert (slow.action, slow.heading, slow.line, slow.code) == ("slow", "A section", 6, "echo a\n")
    assert (skipped.action, skipped.reason, skipped.code) == ("skip", "needs a cluster", "echo b\n")
    assert python.language == "python" and python.action is None and not python.runs
    assert python.heading == "A section"  # the commented line in the bare fence is not a heading
