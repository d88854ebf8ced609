"""A strategy registered from outside the alseg package, as a user would write it (one file)."""

import numpy as np
from pydantic import Field

from alseg import Family, PoolView, StrategyOptions, register_strategy


class LatestFramesOptions(StrategyOptions):
    stride: int = Field(1, ge=1)  # take every stride-th of the latest frames


@register_strategy(
    "toy-latest-frames",
    title="Latest frames",
    family=Family.BASELINE,
    description="the unlabeled frames with the highest frame numbers",
    options=LatestFramesOptions,
)
def latest_frames(
    view: PoolView, k: int, rng: np.random.Generator, options: LatestFramesOptions
) -> np.ndarray:
    order = view.unlabeled[np.argsort(-view.frames[view.unlabeled], kind="stable")]
    strided = np.concatenate([order[:: options.stride], order])
    return np.asarray(list(dict.fromkeys(strided.tolist()))[:k])


@register_strategy(
    "toy-broken-kernel",
    title="Broken kernel",
    family=Family.BATCH,
    description="calls k-center with embeddings of the wrong shape (a bug, not a user error)",
    needs={"embedding"},
)
def broken_kernel(
    view: PoolView, k: int, rng: np.random.Generator, options: StrategyOptions
) -> np.ndarray:
    from alseg.acquisition.kcenter import kcenter_greedy

    return kcenter_greedy(view.embeddings[:, :, None], view.labeled, k)
