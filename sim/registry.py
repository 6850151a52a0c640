"""Named registries (settings, strategies, policies): unknown names list the valid ones.

Names are exact (lower case, as the registries spell them): ``Clasp`` or
``CLASP`` is refused, with a hint naming ``clasp``, rather than taken: a
scenario's strategy names are also its sweep values, run ids and table
values, which must not depend on how one user typed them.
"""

import unicodedata


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
        close = [key for key in registry if _normal(key) == _normal(name)]
        hint = f" (names are exact: did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown {kind} {name!r}; valid {plural or kind + 's'}: {', '.join(registry)}{hint}"
        )
    return name


def _normal(name) -> str:
    """``name`` as compared for the hint: NFKC, case folded, without surrounding spaces."""
    return unicodedata.normalize("NFKC", str(name)).casefold().strip()
