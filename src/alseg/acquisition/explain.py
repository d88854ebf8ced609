"""Why each pick was made: a score and a plain reason per pick, for manifests and contact sheets."""

from __future__ import annotations

import numpy as np

from alseg.acquisition.base import Explanation, Family, PoolView, Strategy, StrategyOptions
from alseg.acquisition.scorers import need_title
from alseg.distances import nearest_neighbours, nearest_squared, paired_distances


def score_need(needs: frozenset[str]) -> str | None:
    """The need whose value is a pick's score (the first that is not the embedding)."""
    names = sorted(needs - {"embedding"})
    return names[0] if names else None


def default_explanations(
    strategy: Strategy, view: PoolView, picks: np.ndarray, options: StrategyOptions
) -> list[Explanation]:
    """Score-based strategies: the score and the rank (single-sample) or the description."""
    need = score_need(strategy.needs(options))
    if need is None:
        return [(None, strategy.description) for _ in picks]
    explanations: list[Explanation] = []
    for rank, index in enumerate(picks.tolist(), start=1):
        score = float(view.results[need][index])
        reason = f"{need_title(need)} {score:.4g}"
        if strategy.family is Family.SINGLE:
            reason += f", rank {rank} of {len(view.unlabeled)} candidates"
        else:
            reason += f"; {strategy.description}"
        explanations.append((score, reason))
    return explanations


def explain_picks(
    strategy: Strategy,
    view: PoolView,
    picks: np.ndarray,
    options: StrategyOptions,
    near_duplicate_radius: float | None = None,
) -> list[Explanation]:
    """Every pick's explanation, in pick order; with embeddings and a radius, picks within the
    radius of an earlier pick are marked as its near-duplicates."""
    explain = strategy.explain or default_explanations
    explanations = explain(strategy, view, picks, options)
    if near_duplicate_radius is None or "embedding" not in view.results:
        return explanations
    _, nearest, to_earlier = cover_distances(view.embeddings, view.labeled, picks)
    marked = []
    for position, (score, reason) in enumerate(explanations):
        if to_earlier[position] <= near_duplicate_radius:
            reason += (
                f"; near-duplicate of pick #{nearest[position] + 1} "
                f"(distance {to_earlier[position]:.3g})"
            )
        marked.append((score, reason))
    return marked


def cover_distances(
    embeddings: np.ndarray, covered: np.ndarray, picked: np.ndarray, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pick, in pick order: distance to the nearest covered image or earlier pick (inf when
    there is none), and the nearest earlier pick (-1 for the first) with its distance."""
    x = embeddings.astype(np.float64)
    chosen = x[picked]
    to_covered, _ = nearest_squared(chosen, x, chunk=chunk, reference_rows=covered)
    _, nearest, _ = nearest_neighbours(chosen, chunk=chunk, earlier_only=True)
    to_earlier = np.full(len(picked), np.inf)
    has_earlier = nearest >= 0
    to_earlier[has_earlier] = paired_distances(x, picked[has_earlier], picked[nearest[has_earlier]])
    return np.minimum(np.sqrt(to_covered), to_earlier), nearest, to_earlier
