"""Training: supervised and semi-supervised trainers behind one ``fit(request)``."""

from alseg.train.registry import Trainer, fit, get_trainer, list_trainers, register_trainer
from alseg.train.request import FitRequest, FitResult, StepCallback, TrainFunction

__all__ = [
    "FitRequest",
    "FitResult",
    "StepCallback",
    "TrainFunction",
    "Trainer",
    "fit",
    "get_trainer",
    "list_trainers",
    "register_trainer",
]
