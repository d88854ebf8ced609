"""The strategy seam: a strategy gets the pool state and returns the pool indices to label next.

A :class:`Strategy` describes itself in one place: its name, the title reports print, its family
(the word the paper's guide uses), what the inference pass must compute for it (``needs``), a typed
options model, and how it explains a pick. Nothing else in alseg branches on strategy names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from alseg.errors import ConfigError


class Family(str, Enum):
    """How a strategy picks; the paper's guide (Table 7) recommends families, not strategies."""

    RANDOM = "random"
    SINGLE = "single-sample"
    BATCH = "batch"
    BASELINE = "baseline"

    @property
    def guide_word(self) -> str:
        """The word Table 7 uses: Random, Single, Batch (baselines are not in the guide)."""
        return {"random": "Random", "single-sample": "Single", "batch": "Batch"}.get(
            self.value, "Baseline"
        )


class StrategyOptions(BaseModel):
    """Base of a strategy's options: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class PoolView:
    """What a strategy may look at: labeled/unlabeled pool indices, frame metadata and the
    per-image results of the last inference pass, keyed by need (arrays indexed by pool index)."""

    labeled: np.ndarray
    unlabeled: np.ndarray
    sequences: list[str]
    frames: np.ndarray
    results: dict[str, np.ndarray] = field(default_factory=dict)

    def scores(self, need: str) -> np.ndarray:
        """Per-image results ``need`` of the unlabeled images, aligned with ``unlabeled``."""
        return self.results[need][self.unlabeled]

    @property
    def embeddings(self) -> np.ndarray:
        return self.results["embedding"]


#: One pick's explanation: its score (None when the strategy has none) and a plain reason.
Explanation = tuple[float | None, str]
Selector = Callable[[PoolView, int, np.random.Generator, Any], np.ndarray]
Needs = Callable[[Any], frozenset[str]]
Explainer = Callable[["Strategy", PoolView, np.ndarray, Any], list[Explanation]]
#: The pool indices a strategy may ever pick, from the pool's sequences and frames and the options.
Subset = Callable[[list[str], np.ndarray, Any], np.ndarray]


class NoOptions(StrategyOptions):
    """A strategy without options."""


@dataclass(frozen=True)
class Strategy:
    """A named acquisition function and everything alseg needs to know about it.

    ``select(view, k, rng, options)`` returns k unlabeled pool indices. ``needs(options)`` names the
    per-image results of the inference pass it reads (see ``alseg.acquisition.scorers``), e.g.
    ``{"entropy"}``, ``{"embedding"}`` or ``{"mc:20"}``. ``explain`` gives every pick a score and a
    reason (for manifests and contact sheets); ``defaults`` are option values that differ from the
    options model's own defaults (e.g. ``entropy-minmax`` is entropy with ``normalize="minmax"``).

    ``subset`` restricts the pool once, initial set included (Uniform(@5)+Entropy takes every 5th
    frame first); a ``one_shot`` strategy picks the whole final budget at once from nothing, in
    a single cycle without a random initial set (the paper's one-shot Uniform; it has no AUC).
    Either gives the run an initial set of its own, so it shares no cycle 0 with other strategies.
    """

    name: str
    title: str
    family: Family
    description: str
    select: Selector
    needs: Needs = lambda options: frozenset()
    options: type[StrategyOptions] = NoOptions
    defaults: Mapping[str, Any] = field(default_factory=dict)
    head_dropout: float = 0.0
    explain: Explainer | None = None
    subset: Subset | None = None
    one_shot: bool = False

    @property
    def own_initial_set(self) -> bool:
        """Whether runs of this strategy start from an initial set other strategies do not share."""
        return self.one_shot or self.subset is not None

    def parse_options(self, values: Mapping[str, Any] | None = None) -> StrategyOptions:
        """The validated options: defaults, then ``values``; ConfigError naming a bad key/value."""
        try:
            return self.options(**{**self.defaults, **(values or {})})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            allowed = ", ".join(self.options.model_fields) or "none"
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"strategy {self.name!r} option {where}: {message} (options: {allowed})"
            ) from None

    def needs_for(self, values: Mapping[str, Any] | None = None) -> frozenset[str]:
        return self.needs(self.parse_options(values))

    def summary(self, values: Mapping[str, Any] | None = None) -> str:
        """Family and needs in a few words, for ``alseg strategies``."""
        return ", ".join([self.family.value, *sorted(self.needs_for(values))])


def top_k(
    scores: np.ndarray, candidates: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """The k candidates with the highest scores; ties keep a seeded random order."""
    order = rng.permutation(len(candidates))
    ranked = order[np.argsort(-scores[order], kind="stable")]
    return candidates[ranked[:k]]
