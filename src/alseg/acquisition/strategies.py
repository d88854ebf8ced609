"""The built-in acquisition strategies (SPEC §2, plus two batch-aware extras), each described
once: name, title, family, needs, options and how it explains a pick."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from alseg.acquisition.base import (
    Explanation,
    Family,
    Needs,
    NoOptions,
    PoolView,
    Selector,
    Strategy,
    StrategyOptions,
    top_k,
)
from alseg.acquisition.registry import register_strategy


def _fixed_reason(reason: str):
    def explain(
        strategy: Strategy, view: PoolView, picks: np.ndarray, options: object
    ) -> list[Explanation]:
        return [(None, reason) for _ in picks]

    return explain


def _ranked_by(needs: Needs) -> Selector:
    """Single-sample selection: the top k unlabeled images by the strategy's one score."""

    def select(
        view: PoolView, k: int, rng: np.random.Generator, options: StrategyOptions
    ) -> np.ndarray:
        (need,) = needs(options)
        return top_k(view.scores(need), view.unlabeled, k, rng)

    return select


@register_strategy(
    "random",
    title="Random",
    family=Family.RANDOM,
    description="uniformly random images",
    explain=_fixed_reason("random pick"),
)
def random(view: PoolView, k: int, rng: np.random.Generator, options: NoOptions) -> np.ndarray:
    return rng.permutation(view.unlabeled)[:k]


class EntropyOptions(StrategyOptions):
    normalize: Literal["none", "minmax"] = "none"  # minmax: the official code's 0..255 rescale


def _entropy_needs(options: EntropyOptions) -> frozenset[str]:
    return frozenset({"entropy" if options.normalize == "none" else f"entropy:{options.normalize}"})


entropy = register_strategy(
    "entropy",
    title="Entropy",
    family=Family.SINGLE,
    description="highest mean pixel entropy",
    needs=_entropy_needs,
    options=EntropyOptions,
)(_ranked_by(_entropy_needs))
entropy_minmax = register_strategy(
    "entropy-minmax",
    title="Entropy (minmax)",
    family=Family.SINGLE,
    description="entropy with each map rescaled to 0..255 (official quirk)",
    needs=_entropy_needs,
    options=EntropyOptions,
    defaults={"normalize": "minmax"},
)(_ranked_by(_entropy_needs))


class EqualOptions(StrategyOptions):
    #: entropy: H(x) + H(flip x), what produced the paper's numbers; consistency: symmetric KL.
    variant: Literal["entropy", "consistency"] = "entropy"


def _equal_needs(options: EqualOptions) -> frozenset[str]:
    return frozenset({"equal" if options.variant == "entropy" else f"equal:{options.variant}"})


equal = register_strategy(
    "equal",
    title="EquAL",
    family=Family.SINGLE,
    description="EquAL: entropy of the image plus entropy of its flip",
    needs=_equal_needs,
    options=EqualOptions,
)(_ranked_by(_equal_needs))
equal_consistency = register_strategy(
    "equal-consistency",
    title="EquAL (consistency)",
    family=Family.SINGLE,
    description="EquAL: symmetric KL between predictions on the image and its flip",
    needs=_equal_needs,
    options=EqualOptions,
    defaults={"variant": "consistency"},
)(_ranked_by(_equal_needs))


class BaldOptions(StrategyOptions):
    mc_passes: int = Field(20, ge=2, le=1000)  # T MC-dropout passes, same masks for every image


def _bald_needs(options: BaldOptions) -> frozenset[str]:
    return frozenset({f"mc:{options.mc_passes}"})


bald = register_strategy(
    "bald",
    title="BALD",
    family=Family.SINGLE,
    description="BALD mutual information under MC dropout in the decoder head",
    needs=_bald_needs,
    options=BaldOptions,
    head_dropout=0.5,
)(_ranked_by(_bald_needs))


def _explain_coreset(
    strategy: Strategy, view: PoolView, picks: np.ndarray, options: object
) -> list[Explanation]:
    from alseg.acquisition.explain import cover_distances

    distances, _, _ = cover_distances(view.embeddings, view.labeled, picks)
    explanations: list[Explanation] = []
    for d in distances.tolist():
        if np.isinf(d):
            explanations.append((None, "first pick: nothing labeled yet, the cover starts here"))
        else:
            reason = (
                f"farthest from the labeled, sent-out and earlier picked images: distance {d:.3g}"
            )
            explanations.append((d, reason))
    return explanations


@register_strategy(
    "coreset",
    title="Coreset",
    family=Family.BATCH,
    description="k-center greedy on 2x2-pooled ASPP embeddings",
    needs={"embedding"},
    explain=_explain_coreset,
)
def coreset(view: PoolView, k: int, rng: np.random.Generator, options: NoOptions) -> np.ndarray:
    from alseg.acquisition.kcenter import kcenter_greedy

    return np.asarray(kcenter_greedy(view.embeddings, view.labeled, k), dtype=np.int64)


def _explain_uniform(
    strategy: Strategy, view: PoolView, picks: np.ndarray, options: object
) -> list[Explanation]:
    return [
        (None, f"fills the largest gap in time between labeled frames of {view.sequences[i]!r}")
        for i in picks.tolist()
    ]


def _uniform(view: PoolView, k: int, rng: np.random.Generator, options: NoOptions) -> np.ndarray:
    from alseg.acquisition.timeline import uniform_in_time

    return uniform_in_time(view.sequences, view.frames, view.labeled, view.unlabeled, k)


uniform = register_strategy(
    "uniform",
    title="Uniform",
    family=Family.BASELINE,
    description="frames in the largest temporal gaps between labeled frames, per sequence",
    explain=_explain_uniform,
)(_uniform)
uniform_oneshot = register_strategy(
    "uniform-oneshot",
    title="Uniform (one shot)",
    family=Family.BASELINE,
    description="the whole budget at once, evenly spaced in time (the paper's Uniform; no AUC)",
    explain=_explain_uniform,
    one_shot=True,
)(_uniform)


class EveryNthOptions(StrategyOptions):
    every: int = Field(5, ge=1)  # keep every n-th frame in time within each sequence, once


def _every_nth_frame(sequences: list[str], frames: np.ndarray, options: EveryNthOptions):
    from alseg.acquisition.batch import every_nth

    return every_nth(sequences, frames, np.arange(len(frames)), options.every)


uniform5_entropy = register_strategy(
    "uniform5-entropy",
    title="Uniform(@5)+Entropy",
    family=Family.BASELINE,
    description="every 5th frame in time (fixed once, initial set included), then entropy",
    needs={"entropy"},
    options=EveryNthOptions,
    subset=_every_nth_frame,
)(_ranked_by(lambda options: frozenset({"entropy"})))


class TypiclustOptions(StrategyOptions):
    min_cluster_size: int = Field(5, ge=0)
    knn: int = Field(20, ge=1)
    max_clusters: int | None = Field(None, ge=1)


@register_strategy(
    "typiclust",
    title="TypiClust",
    family=Family.BATCH,
    description="TypiClust: the most typical image of each uncovered cluster (low budgets)",
    needs={"embedding"},
    options=TypiclustOptions,
)
def typiclust(
    view: PoolView, k: int, rng: np.random.Generator, options: TypiclustOptions
) -> np.ndarray:
    from alseg.acquisition.batch import typiclust as typiclust_picks

    return np.asarray(
        typiclust_picks(view.embeddings, view.labeled, k, rng, **options.model_dump())
    )


@register_strategy(
    "diverse-entropy",
    title="Diverse entropy",
    family=Family.BATCH,
    description="weighted k-means over the most uncertain images (Zhdanov 2019)",
    needs={"entropy", "embedding"},
)
def diverse_entropy(
    view: PoolView, k: int, rng: np.random.Generator, options: NoOptions
) -> np.ndarray:
    from alseg.acquisition.batch import diverse_entropy as diverse_entropy_picks

    scores = view.results["entropy"]
    return np.asarray(diverse_entropy_picks(view.embeddings, scores, view.unlabeled, k, rng))
