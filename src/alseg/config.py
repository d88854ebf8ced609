"""Validated experiment configuration (pydantic), loadable from and savable to YAML."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from alseg.errors import ConfigError

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
#: ``I-S@B`` or ``I-S`` in percent of the pool.
PERCENT_BUDGET = re.compile(rf"{_NUMBER}-{_NUMBER}(?:@{_NUMBER})?")
#: ``N+MxC``: N images, then M more per cycle, C cycles in all.
ABSOLUTE_BUDGET = re.compile(r"([0-9]+)\+([0-9]+)x([0-9]+)")
#: The retired ``I-S-B`` form, recognised only to point at ``I-S@B``.
DASHED_BUDGET = re.compile(rf"{_NUMBER}-{_NUMBER}-{_NUMBER}")
BUDGET_FORMS = "I-S@B or I-S in percent (e.g. 10-10@50, 2-2) or N+MxC images (e.g. 1000+1000x3)"
#: Cycles of an ``I-S`` budget without B: I, I+S, ..., I+4S (SPEC §3).
DEFAULT_CYCLES = 5
IMAGE_SIZE = re.compile(r"\s*([0-9]+)\s*x\s*([0-9]+)\s*", re.IGNORECASE)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_seed(seed: int) -> int:
    """A seed numpy and torch take: a non-negative integer (ValueError otherwise)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return seed


class DataConfig(Strict):
    name: str = "synthdrive"
    root: str | None = None
    image_size: tuple[int, int] | None = (64, 128)  # (H, W) for synthdrive; None = native
    options: dict[str, Any] = Field(default_factory=dict)


class PoolConfig(Strict):
    kind: str = "11f"  # all | random | 0f | <X>f | aug | list:FILE
    size: int | None = 400
    seed: int = 0
    #: list pools: False keeps every line, a repeated line being a second copy of its image (the
    #: paper's code: N = 2,640 for every official list); True keeps each frame once.
    dedupe: bool = False

    @field_validator("size")
    @classmethod
    def _positive(cls, size: int | None) -> int | None:
        if size is not None and size < 1:
            raise ValueError(f"pool size must be positive, got {size}")
        return size

    @field_validator("seed")
    @classmethod
    def _valid_seed(cls, seed: int) -> int:
        return check_seed(seed)


class ModelConfig(Strict):
    encoder: str = "efficientnet_lite0"
    weights: Literal["imagenet", "none"] = "imagenet"
    output_stride: Literal[8, 16] = 16
    aspp_dropout: float = 0.1
    head_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # BALD uses 0.5 (MC dropout)
    # local file of the encoder's ImageNet weights: required for wrn38 (wider_resnet38.pth.tar);
    # for a timm model its state dict, instead of the hub (see alseg.models.pretrained)
    weights_path: str | None = None


class TrainConfig(Strict):
    """Training per SPEC §3. The defaults are the CPU preset for the embedded benchmark: the
    paper's recipe (the study presets' ``GPU_TRAIN``: 100 epochs, lr 1e-3/1e-2) with 10x the
    learning rates and 10 epochs, which on synthdrive reaches in 400 iterations (41.8 mIoU) more
    than the paper's learning rates reach in 2,000 (39.0)."""

    epochs: float = Field(10.0, ge=0.01)  # iterations = epochs * |L| / batch, at least the floor
    min_iterations: int = Field(100, ge=0)  # the floor
    batch_size: int = Field(8, ge=1)
    lr_backbone: float = 1e-2
    lr_head: float = 1e-1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    crop: tuple[int, int] | None = None  # (H, W); None = the size of the first labeled image
    scale_range: tuple[float, float] = (0.5, 1.5)
    hflip: bool = True
    keep_head: bool = False  # official supervised code: keep decoder/head from the last cycle
    workers: int = 0
    channels_last: bool = True
    #: the same number of iterations every cycle, whatever |L| (instead of epochs and the floor)
    fixed_iterations: int | None = Field(None, ge=1)
    #: bfloat16 autocast on CPU for supervised training, evaluation and the inference pass (off:
    #: on this project's 2-core CPU it speeds up inference 1.27x, training not at all; README)
    cpu_bf16: bool = False

    @model_serializer(mode="wrap")
    def _without_default_cpu_bf16(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Dumps (and so run keys) of float32 configs stay what they were before the field."""
        values = handler(self)
        if isinstance(values, dict) and values.get("cpu_bf16") is False:
            del values["cpu_bf16"]
        return values

    def iterations(self, labeled: int) -> int:
        """``fixed_iterations``, or else epochs * |L| / batch, at least ``min_iterations``."""
        if self.fixed_iterations is not None:
            return self.fixed_iterations
        return max(self.min_iterations, round(self.epochs * labeled / self.batch_size))


class BudgetConfig(Strict):
    """Percentages of the pool: initial I, step S, until B (inclusive). Or absolute counts.

    Written ``I-S@B`` (e.g. ``10-10@50``) or ``N+MxC`` (``absolute``: N images, then M more per
    cycle, C cycles in all; e.g. A2D2-3K ``1000+1000x3``); see ``parse`` and ``label``.
    """

    initial: float = 10.0
    step: float = 10.0
    until: float = 50.0
    absolute: tuple[int, int, int] | None = None  # (initial count, step count, cycles)

    @model_validator(mode="after")
    def _consistent(self) -> BudgetConfig:
        if self.absolute is None:
            if not 0 < self.initial <= 100 or not 0 <= self.step <= 100:
                raise ValueError(
                    f"budget {self.initial}-{self.step}: need 0 < initial <= 100, 0 <= step <= 100"
                )
            if self.until < self.initial or self.until > 100:
                raise ValueError(
                    f"budget until {self.until}% must be in [initial {self.initial}%, 100%]"
                )
            steps = (self.until - self.initial) / self.step if self.step else 0.0
            if abs(steps - round(steps)) > 1e-6 or (not self.step and self.until != self.initial):
                grid = ", ".join(f"{self.initial + c * self.step:g}" for c in range(4))
                if not self.step:
                    raise ValueError(f"budget step 0 labels once: until must be {self.initial:g}")
                raise ValueError(
                    f"budget until {self.until:g}% is not a budget step I + k*S ({grid}, ...)"
                )
        elif min(self.absolute) < 0 or self.absolute[0] < 1 or self.absolute[2] < 1:
            raise ValueError(f"absolute budget {self.absolute} needs N >= 1, M >= 0 and C >= 1")
        elif [self.initial, self.step, self.until] != _PERCENT_DEFAULTS:
            raise ValueError(f"absolute budget {self.absolute} takes no percentages")
        return self

    @classmethod
    def parse(cls, text: str, until: float | None = None) -> BudgetConfig:
        """A budget from its text: ``I-S@B`` (percent), ``I-S`` (up to ``until`` or else I + 4 S)
        or ``N+MxC`` (images); the inverse of ``label``."""
        compact = text.strip().lower()
        if match := ABSOLUTE_BUDGET.fullmatch(compact):
            if until is not None:
                raise ConfigError(f"budget {text!r} counts images; until applies to I-S budgets")
            counts = (int(match[1]), int(match[2]), int(match[3]))
            return build(cls, absolute=counts)
        if match := PERCENT_BUDGET.fullmatch(compact):
            initial, step = float(match[1]), float(match[2])
            if match[3] is not None:
                if until is not None:
                    raise ConfigError(f"budget {text!r} sets B already; give until once")
                until = float(match[3])
            elif until is None:
                until = initial + (DEFAULT_CYCLES - 1) * step
            return build(cls, initial=initial, step=step, until=until)
        if DASHED_BUDGET.fullmatch(compact):
            raise ConfigError(f"budget {text!r}: write it as I-S@B, e.g. 10-10@30")
        raise ConfigError(f"budget {text!r} is not of the form {BUDGET_FORMS}")

    def label(self) -> str:
        """``10-10@50`` or ``1000+1000x3``: the text ``parse`` reads back."""
        if self.absolute is not None:
            return "{}+{}x{}".format(*self.absolute)
        return f"{_number(self.initial)}-{_number(self.step)}@{_number(self.until)}"

    @property
    def cycles(self) -> int:
        """Trained cycles: one per labeled-set size I, I+S, ... up to B (one when S is 0)."""
        if self.absolute is not None:
            return self.absolute[2]
        if not self.step:
            return 1
        return 1 + math.floor((self.until - self.initial) / self.step + 1e-9)

    def schedule(self, pool_size: int) -> list[tuple[float, int]]:
        """(nominal fraction, labeled count) per cycle: floor(I*N) then + floor(S*N) up to B.
        ConfigError when the pool cannot supply it."""
        schedule = self._nominal_schedule(pool_size)
        if schedule[0][1] < 1:
            raise ConfigError(
                f"budget {self.label()}: the initial set of a pool of {pool_size} images is empty; "
                "use a larger initial percentage or pool"
            )
        if len(schedule) > 1 and schedule[1][1] == schedule[0][1]:
            raise ConfigError(
                f"budget {self.label()}: a step of a pool of {pool_size} images adds 0 images; "
                "use a larger step or pool"
            )
        if schedule[-1][1] > pool_size:
            raise ConfigError(
                f"budget {self.label()} needs {schedule[-1][1]} images but the pool holds "
                f"{pool_size}"
            )
        return schedule

    def span(self, pool_size: int) -> float:
        """The nominal fractions the budget runs over, first to last (what AUC@B integrates)."""
        steps = self._nominal_schedule(pool_size)
        return steps[-1][0] - steps[0][0]

    def final_fraction(self, pool_size: int) -> float:
        """The nominal fraction of a pool of ``pool_size`` labeled in the last cycle."""
        return self._nominal_schedule(pool_size)[-1][0]

    def _nominal_schedule(self, pool_size: int) -> list[tuple[float, int]]:
        if self.absolute is not None:
            initial, step, _ = self.absolute
            counts = [initial + c * step for c in range(self.cycles)]
            return [(count / pool_size, count) for count in counts]
        initial = math.floor(self.initial * pool_size / 100 + 1e-9)
        step = math.floor(self.step * pool_size / 100 + 1e-9)
        return [
            ((self.initial + c * self.step) / 100, initial + c * step) for c in range(self.cycles)
        ]


_PERCENT_DEFAULTS = [
    BudgetConfig.model_fields[name].default for name in ("initial", "step", "until")
]


def _number(value: float) -> str:
    """The shortest plain decimal that reads back as ``value`` (``10``, ``2.5``, ``0.00001``)."""
    return np.format_float_positional(value, trim="-")


def parse_image_size(value: str | Sequence[int]) -> tuple[int, int]:
    """(height, width) from ``"HxW"`` text (``"64x128"``, any case and spacing) or a pair of
    integers; both must be positive."""
    size = _image_size(value)
    if size is None or min(size) < 1:
        raise ConfigError(f"image size {value!r} is not HxW with positive integers, e.g. 64x128")
    return size


def _image_size(value: str | Sequence[int]) -> tuple[int, int] | None:
    if isinstance(value, str):
        match = IMAGE_SIZE.fullmatch(value)
        return (int(match[1]), int(match[2])) if match else None
    if (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


class SSLConfig(Strict):
    """The trainer (``none`` = supervised; see ``alseg.train.list_trainers``, or a
    ``module:function`` path) and its options."""

    method: str = "none"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("method")
    @classmethod
    def _known_trainer(cls, method: str) -> str:
        from alseg.train.registry import list_trainers

        if method not in list_trainers() and ":" not in method:
            allowed = ", ".join([*list_trainers(), "<module>:<function>"])
            raise ValueError(f"unknown SSL method {method!r}; allowed: {allowed}")
        return method


class ExperimentConfig(Strict):
    data: DataConfig = DataConfig()
    pool: PoolConfig = PoolConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    budget: BudgetConfig = BudgetConfig()
    ssl: SSLConfig = SSLConfig()
    strategy: str = "entropy"
    strategy_options: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    absent: Literal["nan", "zero"] = "nan"
    eval_batch_size: int = 32
    max_val_images: int | None = None
    #: Where acquisition keeps per-image scores and embeddings: in RAM, or on disk in the run's
    #: pool_results/ (RAM independent of the pool size; the same picks), with the embeddings in
    #: float16 for disk-float16 (half the size; Coreset picks may change); acquisition.poolstore.
    pool_results: Literal["memory", "disk", "disk-float16"] = "memory"

    @field_validator("seed")
    @classmethod
    def _valid_seed(cls, seed: int) -> int:
        return check_seed(seed)

    @model_validator(mode="after")
    def _bf16_with_supervised_training(self) -> ExperimentConfig:
        if self.train.cpu_bf16 and self.ssl.method != "none":
            raise ValueError(
                f"train.cpu_bf16 applies to supervised training, not SSL method {self.ssl.method!r}"
            )
        return self

    @model_serializer(mode="wrap")
    def _without_default_pool_results(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Dumps (and so ``key()``) of in-memory configs stay what they were before the field."""
        values = handler(self)
        if isinstance(values, dict) and values.get("pool_results") == "memory":
            del values["pool_results"]
        return values

    def key(self) -> str:
        """Stable hash of the resolved config: a run's identity in the results store."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def build(config_type: type[BaseModel], /, **values: Any) -> Any:
    """Construct a config model, turning validation errors into one-line ConfigErrors."""
    try:
        return config_type(**values)
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or error.title
    message = first["msg"].removeprefix("Value error, ")
    return f"invalid config {where}: {message}"


def read_yaml_settings(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The mapping a YAML file holds (safe_load, UTF-8); one ConfigError line for a missing,
    unreadable, non-UTF-8 or non-YAML file, or one that holds no mapping."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder; give a .yaml file") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{what} {path} is not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ConfigError(f"{what} {path} cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of settings")
    return values


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read an experiment YAML file (safe_load) into a validated config."""
    return build(ExperimentConfig, **read_yaml_settings(path))
