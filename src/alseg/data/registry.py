"""The public dataset registry: ``register_dataset``, ``create_dataset``, ``list_datasets``.

A factory takes ``(split, root, **options)`` and returns a SegDataset. A dataset is found by its
registered name or by an import path ``package.module:factory``, so ``--dataset`` or a study YAML
can name a dataset alseg does not ship. Built-in datasets load on first use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alseg.data.base import SegDataset
from alseg.errors import ConfigError, unknown_name
from alseg.plugins import import_attribute, missing_attribute

DatasetFactory = Callable[..., SegDataset]
F = TypeVar("F", bound=DatasetFactory)

# name -> "module:factory" of a built-in dataset, imported only when used.
_BUILTINS: dict[str, str] = {
    "synthdrive": "alseg.data.synthdrive:create",
    "cityscapes": "alseg.data.cityscapes:create",
    "pascal_voc": "alseg.data.pascal_voc:create",
    "a2d2": "alseg.data.a2d2:create",
    "camvid": "alseg.data.camvid:create",
    "folder": "alseg.data.folder:create",
}
_REGISTERED: dict[str, DatasetFactory] = {}
_NEEDS_ROOT = {"cityscapes", "pascal_voc", "a2d2", "camvid", "folder"}


def register_dataset(name: str, needs_root: bool = False) -> Callable[[F], F]:
    """Decorator: register ``factory(split, root, **options)`` as dataset ``name``; a dataset that
    ``needs_root`` cannot be created without a data root."""
    if ":" in name:
        raise ValueError(f"dataset name {name!r} contains ':'")

    def decorate(factory: F) -> F:
        _REGISTERED[name] = factory
        if needs_root:
            _NEEDS_ROOT.add(name)
        else:
            _NEEDS_ROOT.discard(name)
        return factory

    return decorate


def list_datasets() -> list[str]:
    """Names of the datasets: the built-ins, then those registered since."""
    return list(dict.fromkeys([*_BUILTINS, *_REGISTERED]))


def needs_root(name: str) -> bool:
    """Whether dataset ``name`` reads files from a data root."""
    return name in _NEEDS_ROOT


def create_dataset(
    name: str, split: str, root: str | Path | None = None, **options: Any
) -> SegDataset:
    """Dataset ``name`` (registered or ``module:factory``) for ``split`` ("train" or "val")."""
    factory = _factory(name)
    if split not in ("train", "val"):
        raise ConfigError(f"unknown split {split!r}; allowed: train, val")
    if name in _NEEDS_ROOT and root is None:
        raise ConfigError(f"dataset {name!r} needs --data-root PATH (the folder holding it)")
    arguments = {"split": split, "root": Path(root) if root is not None else None, **options}
    try:
        inspect.signature(factory).bind(**arguments)
    except TypeError as error:  # an option the dataset does not take
        raise ConfigError(f"dataset {name!r}: {error}") from None
    return factory(**arguments)


def _factory(name: str) -> DatasetFactory:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTINS:
        return _import_factory(_BUILTINS[name])
    if ":" in name:
        return _import_factory(name)
    raise unknown_name("dataset", name, [*list_datasets(), "<module>:<factory>"])


def _import_factory(path: str) -> DatasetFactory:
    factory = import_attribute(path, "dataset")
    if not callable(factory):
        what = "a function of split, root and options returning a SegDataset"
        raise missing_attribute(path, "dataset", what)
    return factory
