"""crm-sim: an agent-based simulator of customer relationships.

Typical use::

    from sim import CRMModel, default_config

    config = default_config(market={"setting": "ecommerce"})
    model = CRMModel(config, rng=42).run()
    model.firm_frame()        # one row per period x firm
    model.customers_frame()   # one row per customer
"""

from .config import Config, FirmConfig, default_config, replace
from .settings import SETTINGS
from .stages import Stage, Trajectory
from .strategies import STRATEGIES, Strategy, get_strategy

__all__ = [
    "SETTINGS",
    "STRATEGIES",
    "CRMModel",
    "Config",
    "FirmConfig",
    "Stage",
    "Strategy",
    "Trajectory",
    "default_config",
    "engine_ready",
    "get_strategy",
    "replace",
    "warm_up",
]


def __getattr__(name: str):
    """``CRMModel``, ``warm_up`` and ``engine_ready``, imported when first asked for.

    The model pulls in Mesa and the compiled kernels (numba), a few seconds
    of start-up that a process reading results (``run.py report``) never
    needs; ``from sim import CRMModel`` works as before.
    """
    if name == "CRMModel":
        from . import model

        return model.CRMModel
    if name in ("engine_ready", "warm_up"):
        from . import cache

        return getattr(cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
