"""Name -> dataset factory. Factories take ``(split, root, **options)`` and return a SegDataset."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from alseg.data.base import SegDataset
from alseg.errors import ConfigError, unknown_name

# name -> "module:factory"; modules are imported only when used.
_FACTORIES: dict[str, str] = {
    "synthdrive": "alseg.data.synthdrive:create",
    "cityscapes": "alseg.data.cityscapes:create",
    "pascal_voc": "alseg.data.pascal_voc:create",
    "a2d2": "alseg.data.a2d2:create",
    "camvid": "alseg.data.camvid:create",
    "folder": "alseg.data.folder:create",
}
NEEDS_ROOT = {"cityscapes", "pascal_voc", "a2d2", "camvid", "folder"}


def available_datasets() -> list[str]:
    return sorted(_FACTORIES)


def create_dataset(
    name: str, split: str, root: str | Path | None = None, **options: Any
) -> SegDataset:
    """Build dataset ``name`` for ``split`` ("train" or "val")."""
    if name not in _FACTORIES:
        raise unknown_name("dataset", name, available_datasets())
    if split not in ("train", "val"):
        raise ConfigError(f"unknown split {split!r}; allowed: train, val")
    if name in NEEDS_ROOT and root is None:
        raise ConfigError(f"dataset {name!r} needs --data-root PATH (the folder holding it)")
    module_name, factory_name = _FACTORIES[name].split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    arguments = {"split": split, "root": Path(root) if root is not None else None, **options}
    try:
        inspect.signature(factory).bind(**arguments)
    except TypeError as error:  # an option the dataset does not take
        raise ConfigError(f"dataset {name!r}: {error}") from None
    return factory(**arguments)
