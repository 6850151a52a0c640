"""Named registries (settings, strategies, policies): unknown names list the valid ones.

Names are exact (lower case, as the registries spell them): ``Clasp`` or
``CLASP`` is refused, with a hint naming ``clasp``, rather than taken: a
scenario's strategy names are also its sweep values, run ids and table
values, which must not depend on how one user typed them.
"""

import unicodedata
from typing import Any


def N_(message: str) -> str:
    """Mark ``message`` for the translation catalogs (``python -m i18n extract``); returns it.

    The same marker as ``i18n.N_``, defined here because the model imports nothing
    of the layers above it: the messages are translated where they are shown.
    """
    return message


class Refusal(ValueError):
    """A scenario value refused: a message template marked for translation, and its values.

    ``str()`` of it is the English message; the scenario loader
    (:func:`experiments.schema.error_message`) shows it in the user's language
    from the same template (``i18n``'s catalogs).
    """

    def __init__(self, template: str, **values: Any):
        super().__init__(template.format(**values))
        self.template, self.values = template, values


UNKNOWN = {
    "setting": (
        N_("unknown setting {name}; valid settings: {allowed}"),
        N_(
            "unknown setting {name}; valid settings: {allowed} "
            "(names are exact: did you mean {close}?)"
        ),
    ),
    "strategy": (
        N_("unknown strategy {name}; valid strategies: {allowed}"),
        N_(
            "unknown strategy {name}; valid strategies: {allowed} "
            "(names are exact: did you mean {close}?)"
        ),
    ),
    "policy": (
        N_("unknown policy {name}; valid policies: {allowed}"),
        N_(
            "unknown policy {name}; valid policies: {allowed} "
            "(names are exact: did you mean {close}?)"
        ),
    ),
    "stage": (
        N_("unknown stage {name}; valid stages: {allowed}"),
        N_(
            "unknown stage {name}; valid stages: {allowed} (names are exact: did you mean {close}?)"
        ),
    ),
}
"""By kind of name: the message for an unknown name, and the one with a hint."""


def check_name(registry, name, kind: str) -> str:
    """Return ``name`` if ``registry`` has it; else raise naming the valid ones.

    Args:
        registry: a mapping whose keys are the valid names, in display order.
        name: the name asked for.
        kind: what a name names, a key of :data:`UNKNOWN` ("strategy", "policy", ...).

    Raises:
        Refusal: ``unknown <kind> '<name>'; valid <kinds>: a, b, c``, with a hint
            when the name differs from a valid one only in case, width or spaces;
            a scenario's loader shows it in the user's language.
    """
    if name not in registry:
        close = [key for key in registry if _normal(key) == _normal(name)]
        plain, hinted = UNKNOWN[kind]
        values = {"name": repr(name), "allowed": ", ".join(registry)}
        if close:
            raise Refusal(hinted, **values, close=repr(close[0]))
        raise Refusal(plain, **values)
    return name


def _normal(name) -> str:
    """``name`` as compared for the hint: NFKC, case folded, without surrounding spaces."""
    return unicodedata.normalize("NFKC", str(name)).casefold().strip()
