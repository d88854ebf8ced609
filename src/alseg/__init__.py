"""alseg: active learning for semantic segmentation.

The public API, importable from ``alseg`` directly (torch loads only with what needs it):
strategies (``register_strategy``, ``get_strategy``, ``list_strategies``, ``select_next``),
datasets (``register_dataset``, ``create_dataset``, ``list_datasets``), trainers
(``register_trainer``, ``fit``, ``list_trainers``), the model protocol (``SegmentationModel``,
``PlainSegmentationModel``) and the engine (``run_loop``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Family": "alseg.acquisition.base",
    "PoolView": "alseg.acquisition.base",
    "Strategy": "alseg.acquisition.base",
    "StrategyOptions": "alseg.acquisition.base",
    "register_strategy": "alseg.acquisition.registry",
    "get_strategy": "alseg.acquisition.registry",
    "list_strategies": "alseg.acquisition.registry",
    "register_scorer": "alseg.acquisition.scorers",
    "select_next": "alseg.acquisition.select",
    "register_dataset": "alseg.data.registry",
    "create_dataset": "alseg.data.registry",
    "list_datasets": "alseg.data.registry",
    "register_trainer": "alseg.train.registry",
    "list_trainers": "alseg.train.registry",
    "fit": "alseg.train.registry",
    "FitRequest": "alseg.train.request",
    "SegmentationModel": "alseg.models.protocol",
    "ModelOutput": "alseg.models.protocol",
    "PlainSegmentationModel": "alseg.models.plain",
    "run_loop": "alseg.loop",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alseg' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
