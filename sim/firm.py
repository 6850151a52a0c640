"""Firms as Mesa agents: a configuration, a strategy, and this period's levers."""

import mesa

from .strategies import Actions, FirmObservation, get_strategy


class Firm(mesa.Agent):
    """A supplier that runs one relationship strategy.

    Attributes:
        index: position of the firm in ``model.firms`` (its code in customer arrays).
        params: the firm's :class:`sim.config.FirmConfig` (strategy traits included).
        strategy: the :class:`sim.strategies.Strategy` instance that decides.
        actions: the levers set by the last :meth:`decide`.
        reputation: smoothed mean satisfaction of its customers, in [0, 1].
    """

    def __init__(self, model, index: int, params, reputation: float):
        super().__init__(model)
        self.index = index
        self.params = params
        self.name = params.name
        self.strategy = get_strategy(params.strategy)
        self.reputation = reputation
        self.actions = Actions(params.acquisition_rate, 1.0, params.adaptation)

    def observe(self) -> FirmObservation:
        """What the firm saw in the last recorded period of the model's ledger."""
        ledger, i = self.model.ledger, self.index
        return FirmObservation(
            customers=int(ledger.get("customers")[i]),
            lost=int(ledger.get("defections")[i]),
            mean_trust=float(ledger.get("mean_trust")[i]),
            mean_misfit=float(ledger.get("mean_misfit")[i]),
        )

    def decide(self) -> None:
        """Let the strategy set this period's levers from last period's ledger."""
        self.actions = self.strategy.decide(self.params, self.observe())
