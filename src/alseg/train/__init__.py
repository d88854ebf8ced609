"""Training: supervised and semi-supervised trainers behind one ``fit`` signature."""

from alseg.train.common import FitResult, fit

__all__ = ["FitResult", "fit"]
