"""The public trainer registry (``register_trainer``, ``get_trainer``, ``list_trainers``) and
``fit``, which runs the trainer named by ``ssl.method``.

A trainer is found by its registered name or by an import path ``package.module:function`` naming
a function of a ``FitRequest`` (or a registered :class:`Trainer`), so ``ssl.method`` can name a
trainer alseg does not ship. The built-ins import torch-heavy modules: they load on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alseg.errors import unknown_name
from alseg.plugins import import_attribute, missing_attribute
from alseg.train.request import FitRequest, FitResult, TrainFunction
from alseg.train.ssl.params import Params, validate

#: The supervised trainer: what a semi-supervised one falls back to without unlabeled images.
SUPERVISED = "none"

# name -> "module:attribute" of a built-in trainer, imported only when used.
_BUILTINS: dict[str, str] = {
    SUPERVISED: "alseg.train.supervised:fit_supervised",
    "s4gan": "alseg.train.ssl.s4gan:fit_s4gan",
    "unimatch": "alseg.train.ssl.unimatch:fit_unimatch",
    "u2pl": "alseg.train.ssl.u2pl:fit_u2pl",
}


@dataclass(frozen=True)
class Trainer:
    """A training function and how ``fit`` treats it: a ``semi_supervised`` trainer is replaced
    by the supervised one when there are no unlabeled images; ``options`` validates
    ``ssl.options`` before training (also when falling back)."""

    name: str
    train: TrainFunction
    semi_supervised: bool = False
    options: type[Params] | None = None

    def __call__(self, request: FitRequest) -> FitResult:
        return self.train(request)


_TRAINERS: dict[str, Trainer] = {}


def register_trainer(
    name: str, *, semi_supervised: bool = False, options: type[Params] | None = None
) -> Callable[[TrainFunction], Trainer]:
    """Decorator: register ``train(request) -> FitResult`` as trainer ``name``; returns the
    :class:`Trainer`."""
    if ":" in name:
        raise ValueError(f"trainer name {name!r} contains ':'")

    def decorate(train: TrainFunction) -> Trainer:
        trainer = Trainer(name, train, semi_supervised, options)
        _TRAINERS[name] = trainer
        return trainer

    return decorate


def list_trainers() -> list[str]:
    """Names of the trainers: the built-ins, then those registered since."""
    return list(dict.fromkeys([*_BUILTINS, *_TRAINERS]))


def get_trainer(name: str) -> Trainer:
    """The trainer registered as ``name``, or the one at import path ``module:function``."""
    if name in _TRAINERS:
        return _TRAINERS[name]
    if name in _BUILTINS:
        return _import_trainer(_BUILTINS[name])
    if ":" in name:
        return _import_trainer(name)
    raise unknown_name("SSL method", name, [*list_trainers(), "<module>:<function>"])


def fit(request: FitRequest) -> FitResult:
    """Train ``request.model`` in place with the trainer named by ``request.ssl.method``."""
    trainer = get_trainer(request.ssl.method)
    if trainer.options is not None:
        validate(trainer.options, request.ssl.options)  # bad options fail even when falling back
    if trainer.semi_supervised and (request.unlabeled is None or len(request.unlabeled) == 0):
        trainer = get_trainer(SUPERVISED)  # e.g. the 100% reference
    return trainer(request)


def _import_trainer(path: str) -> Trainer:
    found = import_attribute(path, "trainer")
    if isinstance(found, Trainer):
        return found
    if not callable(found):
        raise missing_attribute(path, "trainer", "a function of a FitRequest returning a FitResult")
    return Trainer(path, found)
