"""Validated options of the semi-supervised trainers, with the published values as defaults.

``SSLConfig.options`` (a plain dict from YAML or the CLI) becomes one of these frozen models via
``validate``; an unknown key or an out-of-range value raises a one-line ``ConfigError``. A trainer
names its model when it registers (``register_trainer(..., options=...)``).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alseg.errors import ConfigError


class Params(BaseModel):
    """Options of one trainer; ``method`` names it in error messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    method: ClassVar[str]


P = TypeVar("P", bound=Params)


class S4GANParams(Params):
    """s4GAN (Mittal et al. 2019), as in SPEC §5 and the paper's code."""

    method: ClassVar[str] = "s4gan"

    lambda_fm: float = Field(0.1, ge=0.0, description="weight of the feature-matching loss L_fm")
    lambda_st: float = Field(1.0, ge=0.0, description="weight of the self-training loss L_st")
    st_threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="discriminator score above which an unlabeled image self-trains",
    )
    d_lr: float = Field(1e-4, gt=0.0, description="discriminator Adam learning rate (poly decay)")
    d_betas: tuple[float, float] = Field((0.9, 0.99), description="discriminator Adam betas")
    d_channels: int = Field(
        64, ge=1, description="channels of the first discriminator conv (then x2, x4, x8)"
    )
    d_dropout: float = Field(
        0.5, ge=0.0, lt=1.0, description="Dropout2d after the first three discriminator convs"
    )

    @model_validator(mode="after")
    def _betas_in_range(self) -> S4GANParams:
        if not all(0.0 <= beta < 1.0 for beta in self.d_betas):
            raise ValueError(f"d_betas {self.d_betas} must lie in [0, 1)")
        return self


class UniMatchParams(Params):
    """UniMatch (Yang et al. 2023): weak-to-strong consistency plus feature perturbation."""

    method: ClassVar[str] = "unimatch"

    confidence: float = Field(
        0.95, ge=0.0, le=1.0, description="pseudo-labels count where max softmax >= confidence"
    )
    weight_strong: float = Field(
        0.25, ge=0.0, description="weight of each strong-view loss L_s1, L_s2 (before the /2)"
    )
    weight_fp: float = Field(
        0.5, ge=0.0, description="weight of the feature-perturbation loss L_fp (before the /2)"
    )
    fp_dropout: float = Field(
        0.5, ge=0.0, lt=1.0, description="Dropout2d rate on the encoder features of the fp branch"
    )
    cutmix_prob: float = Field(0.5, ge=0.0, le=1.0, description="chance of a CutMix box per image")
    cutmix_area: tuple[float, float] = Field(
        (0.02, 0.4), description="range of the CutMix box area, as a share of the image"
    )
    cutmix_ratio: tuple[float, float] = Field(
        (0.3, 1 / 0.3), description="range of the CutMix box aspect ratio (height / width)"
    )
    jitter_prob: float = Field(0.8, ge=0.0, le=1.0, description="chance of colour jitter")
    brightness: float = Field(0.5, ge=0.0, description="brightness factor drawn in [1-b, 1+b]")
    contrast: float = Field(0.5, ge=0.0, description="contrast factor drawn in [1-c, 1+c]")
    saturation: float = Field(0.5, ge=0.0, description="saturation factor drawn in [1-s, 1+s]")
    hue: float = Field(0.25, ge=0.0, le=0.5, description="hue shift drawn in [-h, h]")
    grayscale_prob: float = Field(0.2, ge=0.0, le=1.0, description="chance of grayscale")
    blur_prob: float = Field(0.5, ge=0.0, le=1.0, description="chance of a Gaussian blur")
    blur_sigma: tuple[float, float] = Field(
        (0.1, 2.0), description="range of the Gaussian blur sigma in pixels"
    )

    @model_validator(mode="after")
    def _ranges(self) -> UniMatchParams:
        _check_range("cutmix_area", self.cutmix_area, 0.0, 1.0)
        _check_range("cutmix_ratio", self.cutmix_ratio, 0.0, float("inf"), open_low=True)
        _check_range("blur_sigma", self.blur_sigma, 0.0, float("inf"), open_low=True)
        return self


class U2PLParams(Params):
    """U2PL (Wang et al. 2022): EMA teacher, entropy-filtered pseudo-labels, negative queues."""

    method: ClassVar[str] = "u2pl"

    ema_decay: float = Field(0.99, ge=0.0, lt=1.0, description="EMA decay of the teacher")
    evaluate_teacher: bool = Field(
        True,
        description="the trained model is the EMA teacher, which U2PL evaluates (the loop then "
        "evaluates and scores with it); false: the student",
    )
    warmup_fraction: float = Field(
        1 / 80,
        ge=0.0,
        lt=1.0,
        description="share of the iterations trained supervised only (official: 1 of 80 epochs)",
    )
    unsupervised_weight: float = Field(1.0, ge=0.0, description="weight of the pseudo-label loss")
    contrastive_weight: float = Field(1.0, ge=0.0, description="weight of the contrastive loss")
    unreliable_percent: float = Field(
        20.0,
        ge=0.0,
        le=100.0,
        description="alpha_0: % of highest-entropy unlabeled pixels left out of the pseudo-label "
        "loss at the start, decaying linearly to 0 over training",
    )
    anchor_percent: float = Field(
        20.0,
        gt=0.0,
        le=100.0,
        description="% of lowest-entropy unlabeled pixels that may be anchors and of "
        "highest-entropy ones that may be negatives, decaying linearly over training",
    )
    cutmix_prob: float = Field(0.5, ge=0.0, le=1.0, description="chance of CutMix per image")
    temperature: float = Field(0.5, gt=0.0, description="InfoNCE temperature")
    anchor_threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="delta_p: anchors need teacher probability > this"
    )
    negative_threshold: float = Field(
        1.0, ge=0.0, le=1.0, description="delta_n: negatives need teacher probability < this"
    )
    low_rank: int = Field(
        3, ge=1, description="r_l: a class among a pixel's top r_l predictions is 'confusable'"
    )
    high_rank: int = Field(
        20, ge=2, description="r_h: unlabeled negatives rank the class in [r_l, r_h)"
    )
    num_queries: int = Field(256, ge=1, description="anchors sampled per class and step")
    num_negatives: int = Field(50, ge=1, description="negatives sampled per anchor")
    queue_length: int = Field(
        10_000, ge=1, description="features kept per class in the negative memory queue"
    )
    rep_dim: int = Field(256, ge=1, description="channels of the projection head output")

    @model_validator(mode="after")
    def _ranks(self) -> U2PLParams:
        if self.high_rank <= self.low_rank:
            raise ValueError(f"high_rank {self.high_rank} must exceed low_rank {self.low_rank}")
        return self


def validate(model: type[P], options: dict[str, Any]) -> P:
    """``options`` as a ``model``; ConfigError naming an unknown key or the first bad value."""
    unknown = sorted(set(options) - set(model.model_fields))
    if unknown:
        raise ConfigError(
            f"unknown {model.method} option {unknown[0]!r}; "
            f"allowed: {', '.join(sorted(model.model_fields))}"
        )
    try:
        return model(**options)
    except ValidationError as error:
        raise ConfigError(_one_line(model.method, options, error)) from None


def _one_line(method: str, options: dict[str, Any], error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if not where:  # a check across fields
        return f"invalid {method} options: {message}"
    value = f" = {options[where]!r}" if where in options else ""
    return f"invalid {method} option {where}{value}: {message}"


def _check_range(
    name: str, bounds: tuple[float, float], low: float, high: float, open_low: bool = False
) -> None:
    lo, hi = bounds
    if lo > hi or hi > high or lo < low or (open_low and lo <= low):
        side = "(" if open_low else "["
        raise ValueError(f"{name} {bounds} must be an ordered pair within {side}{low}, {high}]")
