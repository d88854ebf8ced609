"""How runs are named in tables, curves and files: one label per experiment config."""

from __future__ import annotations

from alseg.acquisition.registry import FULL, get_strategy
from alseg.config import ExperimentConfig

#: The 100%-labeled reference, and BALD's own reference trained with MC dropout in the head.
REFERENCE = "100%"
MCD_REFERENCE = "100% (MCD)"


def method_label(config: ExperimentConfig) -> str:
    """``Coreset``, ``Coreset-SSL (s4gan)``, ``100%`` or ``100% (MCD)``."""
    if config.strategy == FULL:
        return MCD_REFERENCE if config.model.head_dropout > 0 else REFERENCE
    title = get_strategy(config.strategy).title
    return title if config.ssl.method == "none" else f"{title}-SSL ({config.ssl.method})"
