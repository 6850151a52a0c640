"""crm-sim: an agent-based simulator of customer relationships.

Typical use::

    from sim import CRMModel, default_config

    config = default_config(market={"setting": "ecommerce"})
    model = CRMModel(config, rng=42).run()
    model.firm_frame()        # one row per period x firm
    model.customers_frame()   # one row per customer
"""

from .config import Config, FirmConfig, default_config, replace
from .model import CRMModel, warm_up
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
    "get_strategy",
    "replace",
    "warm_up",
]
