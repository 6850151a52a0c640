"""Named registries (settings, strategies, policies): unknown names list the valid ones."""


def check_name(registry, name, kind: str, plural: str | None = None) -> str:
    """Return ``name`` if ``registry`` has it; else raise naming the valid ones.

    Args:
        registry: a mapping whose keys are the valid names, in display order.
        name: the name asked for.
        kind: what a name names, for the message ("strategy", "policy", ...).
        plural: plural of ``kind`` (default: ``kind + "s"``).

    Raises:
        ValueError: ``unknown <kind> '<name>'; valid <plural>: a, b, c``.
    """
    if name not in registry:
        raise ValueError(
            f"unknown {kind} {name!r}; valid {plural or kind + 's'}: {', '.join(registry)}"
        )
    return name
