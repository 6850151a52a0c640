"""The live driver calls the chunk function at its address, only with the types it was built for.

``sim.kernel.live_period`` hands the parallel driver the address of
``live_chunk`` compiled for the period's argument types, with a digest of
those types (``sim.compiled.signature_digest``). The driver's call
(``sim.compiled.call_address``) compares it with the digest of the types it
passes and, where they differ, calls nothing: a wrong address or types would
otherwise read memory as the wrong kind of value.
"""

import numpy as np
import pytest

from sim import CRMModel, default_config, kernel


@pytest.fixture
def period_arguments(monkeypatch):
    """The arguments of the last ``live_period`` call of a small model, and the model."""
    seen = {}
    real = kernel.live_period

    def spy(*arguments):
        seen["arguments"] = arguments
        return real(*arguments)

    monkeypatch.setattr(kernel, "live_period", spy)
    model = CRMModel(default_config(simulation={"customers": 600, "periods": 2}), rng=4)
    model.run()
    return seen["arguments"], model


def test_the_chunk_types_are_those_the_driver_passes(period_arguments):
    arguments, _ = period_arguments
    address, digest = kernel.chunk_entry(arguments[: kernel.LIVE_ARGUMENTS])
    types = kernel.chunk_types(arguments[: kernel.LIVE_ARGUMENTS])
    assert types in kernel.live_chunk.signatures  # compiled (or loaded) for them
    assert digest == kernel.compiled.signature_digest(types)
    assert address == kernel.chunk_entry(arguments[: kernel.LIVE_ARGUMENTS])[0]


def test_a_wrong_digest_runs_nothing_and_live_period_raises(period_arguments, monkeypatch):
    arguments, model = period_arguments
    address, digest = kernel.chunk_entry(arguments[: kernel.LIVE_ARGUMENTS])
    stages = model.customers.stage.copy()
    found = arguments[kernel.LIVE_ARGUMENTS]
    kernel.live_period_driver(address, digest + 1, *arguments)
    assert (found == -1).all()
    assert np.array_equal(model.customers.stage, stages)

    monkeypatch.setattr(kernel, "chunk_entry", lambda arguments: (address, digest + 1))
    with pytest.raises(RuntimeError, match="types differ"):
        kernel.live_period(*arguments)
    assert np.array_equal(model.customers.stage, stages)


def test_the_right_digest_runs_every_chunk(period_arguments):
    arguments, _ = period_arguments
    address, digest = kernel.chunk_entry(arguments[: kernel.LIVE_ARGUMENTS])
    found = arguments[kernel.LIVE_ARGUMENTS]
    found[:] = -1
    kernel.live_period_driver(address, digest, *arguments)
    assert (found >= 0).all()
