"""How redundant is a pool, and which acquisition method the paper's guide recommends for it.

Redundancy index
----------------
The index is the share of the pool that repeats another image:

    index = 1 - n_eff / N,

where ``n_eff`` is the effective number of distinct images. A pool made of groups of ``g`` images
that are near-duplicates of each other (and far from the rest) has ``n_eff = N / g`` and so
``index = 1 - 1/g``; conversely ``1 / (1 - index)`` is the mean size of a near-duplicate group
(``RedundancyReport.mean_group_size``). The scale therefore reads:

- 0: no image has a near-duplicate (Pool-0f, curated sets such as PASCAL-VOC);
- 0.5: pairs; on average every image has one near-duplicate (Pool-2f);
- 0.8 / 0.83 / 0.91 / 0.95: groups of 5 / 6 / 11 / 21 (Pool-5f, Pool-Aug, Pool-11f, Pool-21f);
- 1: the limit of one image repeated over and over (never reached: ``index <= 1 - 1/N``).

The pool is called **redundant** from ``REDUNDANT_THRESHOLD = 0.5`` on, that is when an image has
on average at least one near-duplicate: a single-sample method (Entropy) that ranks an image high
then usually ranks its twin just as high and spends part of every batch on repeats, the mode
collapse the paper observes on video pools. Below it the pool is **diverse**.

Two estimates of ``n_eff`` enter the index, each on that same scale:

- embedding: two images are near-duplicates when their embeddings are at most
  ``near_duplicate_fraction`` times the pool's typical distance apart, the typical distance being
  the median distance between two different images of the pool (over all pairs up to
  ``pair_sample`` pairs, otherwise over a seeded sample of that many pairs, zero distances left out
  so that exact copies do not shrink it). The default is the one near-duplicate radius of
  ``alseg.neighbours`` (0.5, calibrated on synthdrive's ImageNet embeddings; see there). With
  ``c_i`` near-duplicates of image ``i``, ``n_eff = sum_i 1 / (1 + c_i)`` (each group of ``g``
  mutual near-duplicates counts once);
- temporal (when sequences and frame numbers are given): frames of one sequence at most
  ``temporal_window`` frames apart are chained into runs; ``n_eff`` = number of runs. Frame numbers
  should count the dataset's frames (ranks), not raw camera frames: A2D2's labelled frames are
  2-80 camera frames apart.

With metadata the index is the mean of the two, otherwise the embedding estimate alone. The report
also gives ``near_duplicate_share`` (images whose nearest neighbour is a near-duplicate),
``nn_distance_ratio`` (median nearest-neighbour distance / typical distance; near 1 for
independent images in high dimensions, near 0 for video frames) and ``temporal_adjacency``
(frames with another pool frame of the same sequence within the window).

Nearest neighbours are exact up to ``alseg.neighbours.EXACT_MAX_POINTS`` images: distances are
computed in float32 blocks of ``chunk`` x ``chunk`` pairs (each pair once), so memory stays
O(N + chunk^2) on top of the embeddings. Larger pools take the approximate search of
``alseg.ann`` (``neighbours="auto"``; "exact" or "approximate" force either): a coarse quantiser
proposes the candidates, exact distances count them, and with time metadata the frames up to
``TEMPORAL_CANDIDATES`` positions apart in their sequence, the likeliest near-duplicates, are
checked exactly too. It can only miss near-duplicates, never invent them (none missed on the
video-like pools of ``benchmarks/bench_index_1m.py``; 1M x 1,024 in about 4 minutes on one
core), and ``nn_distance_ratio`` then comes from the nearest image found. A float16 array or
memmap is read as it is, never copied whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, cast

import numpy as np

from alseg.config import BUDGET_FORMS, BudgetConfig
from alseg.errors import ConfigError
from alseg.neighbours import (
    NEAR_DUPLICATE_FRACTION,
    PAIR_SAMPLE,
    ROW_CHUNK,
    NeighbourMethod,
    neighbour_stats,
    typical_distance,
)

Regime = Literal["diverse", "redundant"]
BudgetRegime = Literal["low", "high"]

REDUNDANT_THRESHOLD = 0.5
#: A budget is low when less than this fraction of the pool is labelled at the end (2-2 ends at
#: 10%, 5-5 at 25%, 10-10 at 50%).
LOW_BUDGET_MAX_FRACTION = 0.15
#: ... unless at least this many images are labelled at the end (A2D2-3K: 3,000 of 40,135).
HIGH_BUDGET_MIN_IMAGES = 2000
#: With time metadata, the approximate search also checks every pair of frames up to this many
#: positions apart in their sequence (sorted by frame number).
TEMPORAL_CANDIDATES = 8


@dataclass(frozen=True)
class RedundancyReport:
    """The redundancy index of a pool, its parts and the regime it implies."""

    index: float
    regime: Regime
    threshold: float
    n_images: int
    embedding_redundancy: float
    near_duplicate_share: float
    nn_distance_ratio: float
    typical_distance: float
    near_duplicate_radius: float
    temporal_redundancy: float | None = None
    temporal_adjacency: float | None = None
    temporal_window: int | None = None
    neighbours: Literal["exact", "approximate"] = "exact"

    @property
    def mean_group_size(self) -> float:
        """Mean size of a near-duplicate group, 1 / (1 - index)."""
        return 1.0 / (1.0 - self.index)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "mean_group_size": self.mean_group_size}


def temporal_runs(sequences: list[str], frames: list[int], window: int) -> tuple[int, np.ndarray]:
    """Runs of pool frames (same sequence, consecutive gaps <= window) and, per frame, whether
    another pool frame of its sequence lies within the window."""
    order = np.lexsort((np.asarray(frames, dtype=np.int64), np.asarray(sequences, dtype=object)))
    seq = np.asarray(sequences, dtype=object)[order]
    frame = np.asarray(frames, dtype=np.int64)[order]
    linked = (seq[1:] == seq[:-1]) & (np.diff(frame) <= window)
    runs = int(len(order) - linked.sum())
    adjacent_sorted = np.zeros(len(order), dtype=bool)
    adjacent_sorted[1:] |= linked
    adjacent_sorted[:-1] |= linked
    adjacent = np.empty_like(adjacent_sorted)
    adjacent[order] = adjacent_sorted
    return runs, adjacent


def sequence_neighbour_pairs(
    sequences: list[str], frames: list[int], offsets: int = TEMPORAL_CANDIDATES
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of images of one sequence at most ``offsets`` positions apart in frame order."""
    order = np.lexsort((np.asarray(frames, dtype=np.int64), np.asarray(sequences, dtype=object)))
    seq = np.asarray(sequences, dtype=object)[order]
    first, second = [], []
    for offset in range(1, offsets + 1):
        same = np.flatnonzero(seq[offset:] == seq[:-offset])
        first.append(order[same])
        second.append(order[same + offset])
    return np.concatenate(first), np.concatenate(second)


def redundancy_index(
    embeddings: np.ndarray,
    sequences: list[str] | None = None,
    frames: list[int] | None = None,
    *,
    near_duplicate_fraction: float = NEAR_DUPLICATE_FRACTION,
    temporal_window: int = 1,
    redundant_threshold: float = REDUNDANT_THRESHOLD,
    pair_sample: int = PAIR_SAMPLE,
    chunk: int = 2048,
    seed: int = 0,
    neighbours: NeighbourMethod = "auto",
) -> RedundancyReport:
    """Measure how redundant a pool is from its embeddings (N x D) and, optionally, the sequence
    and frame number of every image; see the module docstring for the scale and for
    ``neighbours``."""
    x = _check_embeddings(embeddings)
    n = x.shape[0]
    _check_settings(
        near_duplicate_fraction, temporal_window, redundant_threshold, pair_sample, chunk
    )
    if neighbours not in ("auto", "exact", "approximate"):
        raise ConfigError(f"unknown neighbours {neighbours!r}; allowed: auto, exact, approximate")
    has_time = _check_metadata(sequences, frames, n)

    typical = typical_distance(x, seed, pair_sample=pair_sample)
    radius = near_duplicate_fraction * typical  # alseg.neighbours.near_duplicate_radius
    candidates = sequence_neighbour_pairs(list(sequences), list(frames)) if has_time else None
    stats = neighbour_stats(
        x, radius, chunk=chunk, method=neighbours, candidate_pairs=candidates, seed=seed
    )
    embedding_redundancy = float(np.mean(stats.count / (1.0 + stats.count)))
    near_share = float(np.mean(stats.distance <= radius))
    ratio = min(1.0, float(np.median(stats.distance)) / typical) if typical > 0 else 0.0

    temporal_redundancy = adjacency = None
    index = embedding_redundancy
    if has_time:
        runs, adjacent = temporal_runs(list(sequences), list(frames), temporal_window)
        temporal_redundancy = 1.0 - runs / n
        adjacency = float(adjacent.mean())
        index = (embedding_redundancy + temporal_redundancy) / 2.0
    return RedundancyReport(
        index=index,
        regime="redundant" if index >= redundant_threshold else "diverse",
        threshold=redundant_threshold,
        n_images=n,
        embedding_redundancy=embedding_redundancy,
        near_duplicate_share=near_share,
        nn_distance_ratio=ratio,
        typical_distance=typical,
        near_duplicate_radius=radius,
        temporal_redundancy=temporal_redundancy,
        temporal_adjacency=adjacency,
        temporal_window=temporal_window if has_time else None,
        neighbours="exact" if stats.exact else "approximate",
    )


def _check_embeddings(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
        raise ConfigError(f"embeddings must be a numeric N x D array, got {x.dtype} {x.shape}")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ConfigError(
            f"redundancy needs at least 2 embeddings of dimension >= 1, got {x.shape}"
        )
    for start in range(0, x.shape[0], ROW_CHUNK):
        if not np.isfinite(x[start : start + ROW_CHUNK]).all():
            raise ConfigError("embeddings contain NaN or infinite values")
    return x if x.dtype in (np.float16, np.float32) else x.astype(np.float32)


def _check_settings(
    fraction: float, window: int, threshold: float, pair_sample: int, chunk: int
) -> None:
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"near_duplicate_fraction must be in (0, 1], got {fraction}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ConfigError(f"temporal_window must be an integer >= 0, got {window!r}")
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"redundant_threshold must be in (0, 1), got {threshold}")
    if pair_sample < 1:
        raise ConfigError(f"pair_sample must be >= 1, got {pair_sample}")
    if chunk < 1:
        raise ConfigError(f"chunk must be >= 1, got {chunk}")


def _check_metadata(sequences: list[str] | None, frames: list[int] | None, n: int) -> bool:
    if sequences is None and frames is None:
        return False
    if sequences is None or frames is None:
        raise ConfigError("give both sequences and frames, or neither")
    if len(sequences) != n or len(frames) != n:
        raise ConfigError(
            f"{len(sequences)} sequences and {len(frames)} frames for {n} embeddings; "
            "need one of each per embedding"
        )
    if not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) for f in frames):
        raise ConfigError("frames must be integers (frame numbers within each sequence)")
    return True


# --- the paper's guide (Table 7) -------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """One cell of the guide: the alseg strategy and SSL method, the guide's label, and why."""

    strategy: str
    ssl: str
    label: str
    reason: str


_MODE_COLLAPSE = (
    "On a redundant pool (video frames) single-sample methods such as Entropy suffer mode "
    "collapse: the most uncertain images come in runs of near-duplicate frames, so much of each "
    "batch is spent on repeats. Coreset spreads its picks over the embedding space and covers "
    "more distinct scenes."
)

#: SPEC §1, Table 7, keyed by (pool regime, budget regime, SSL available).
GUIDE: dict[tuple[Regime, BudgetRegime, bool], Recommendation] = {
    ("diverse", "low", False): Recommendation(
        "random",
        "none",
        "Random",
        "On a diverse pool with a low budget, random sampling is hard to beat: the model trained "
        "on a few labels gives unreliable uncertainties, and random picks already cover the "
        "pool's variety.",
    ),
    ("diverse", "low", True): Recommendation(
        "random",
        "s4gan",
        "Random-SSL",
        "SSL helps most when labels are scarce, and on a diverse pool with a low budget random "
        "picks remain hard to beat: train with SSL and select at random.",
    ),
    ("diverse", "high", False): Recommendation(
        "entropy",
        "none",
        "Single (e.g. Entropy)",
        "With a high budget the model's uncertainty becomes informative, and on a diverse pool "
        "the most uncertain images are rarely near-duplicates of each other, so a single-sample "
        "method such as Entropy picks the most useful images.",
    ),
    ("diverse", "high", True): Recommendation(
        "entropy",
        "s4gan",
        "Single-SSL",
        "With a high budget on a diverse pool a single-sample method such as Entropy picks the "
        "most useful images, and SSL on the unlabelled rest still adds on top.",
    ),
    ("redundant", "low", False): Recommendation(
        "coreset",
        "none",
        "Batch (Coreset)",
        _MODE_COLLAPSE + " With few labels, covering distinct scenes matters most.",
    ),
    ("redundant", "low", True): Recommendation(
        "coreset",
        "none",
        "Batch",
        _MODE_COLLAPSE + " The guide lists plain Batch here, not Batch-SSL: with a low budget "
        "on a redundant pool, SSL did not add to diverse batch selection in the paper (the few "
        "labelled scenes give unreliable pseudo-labels on the many near-duplicate unlabelled "
        "frames). So train Coreset without SSL even though SSL is available; switch SSL on once "
        "the budget is high.",
    ),
    ("redundant", "high", False): Recommendation(
        "coreset",
        "none",
        "Batch",
        _MODE_COLLAPSE + " The collapse persists at high budgets: on A2D2 Pool-11f (10-10) "
        "Coreset reached 47.72 mIoU@30 against 47.43 for Entropy and 44.61 for Random.",
    ),
    ("redundant", "high", True): Recommendation(
        "coreset",
        "s4gan",
        "Batch-SSL",
        _MODE_COLLAPSE + " With a high budget SSL adds on top: on A2D2 Pool-11f (10-10) "
        "Coreset-SSL reached 48.99 mIoU@30, above Coreset (47.72) and even the fully labelled "
        "supervised model (48.85).",
    ),
}


def recommend(regime: str, budget: str, ssl: bool) -> Recommendation:
    """The guide's cell for a pool regime ("diverse"/"redundant"), budget ("low"/"high") and
    whether SSL training is an option."""
    if regime not in ("diverse", "redundant"):
        raise ConfigError(f"unknown pool regime {regime!r}; allowed: diverse, redundant")
    if budget not in ("low", "high"):
        raise ConfigError(f"unknown budget regime {budget!r}; allowed: high, low")
    if not isinstance(ssl, (bool, np.bool_)):
        raise ConfigError(f"ssl must be true or false, got {ssl!r}")
    return GUIDE[(regime, budget, bool(ssl))]


def final_labeled_fraction(budget: str | int | float, pool_size: int | None = None) -> float:
    """Fraction of the pool labelled at the end of a budget: "I-S" (percent, 5 cycles: I+4S),
    "I-S-B" (up to B percent), "P%", a fraction in (0, 1], or a number of images with pool_size."""
    if isinstance(budget, bool):
        raise ConfigError(f"budget must be a budget setting or a number, got {budget!r}")
    if isinstance(budget, str):
        return _parse_budget_text(budget.strip(), pool_size)
    if isinstance(budget, (int, np.integer)):
        return _images_fraction(int(budget), pool_size)
    if isinstance(budget, (float, np.floating)):
        if not 0.0 < budget <= 1.0:
            raise ConfigError(f"budget fraction must be in (0, 1], got {budget}")
        return float(budget)
    raise ConfigError(f"budget must be a budget setting or a number, got {budget!r}")


def budget_regime(budget: str | int | float, pool_size: int | None = None) -> BudgetRegime:
    """High when at least ``LOW_BUDGET_MAX_FRACTION`` (15%) of the pool or at least
    ``HIGH_BUDGET_MIN_IMAGES`` (2,000) images end up labelled, otherwise low.

    The paper's cases: 2-2 on its 2,640-image pools (264 images, 10%), on Cityscapes (297) and on
    VOC-aug (1,058, 10%) are low; 5-5 (25%) and 10-10 (50%) are high; A2D2-3K (3,000 of 40,135
    frames, 7.5%) is high: its result (Coreset-SSL best) is the high-budget Batch-SSL cell. A
    fraction alone cannot separate A2D2-3K from 2-2 on VOC, nor a count alone 5-5 on a 2,640
    pool (660 images) from 2-2 on VOC; together they do. Without ``pool_size`` only the fraction
    rule applies."""
    fraction = final_labeled_fraction(budget, pool_size)
    images = fraction * pool_size if pool_size else 0.0
    high = fraction >= LOW_BUDGET_MAX_FRACTION or images >= HIGH_BUDGET_MIN_IMAGES - 1e-6
    return "high" if high else "low"


def _parse_budget_text(text: str, pool_size: int | None) -> float:
    allowed = f'allowed: {BUDGET_FORMS}, "P%", a fraction in (0, 1] or a number of images'
    if any(sign in text for sign in "-+@"):
        budget = BudgetConfig.parse(text)
        if budget.absolute is not None and pool_size is None:
            raise ConfigError(f"budget {text!r} counts images: it needs the pool size")
        return budget.final_fraction(pool_size or 1)
    if text.endswith("%"):
        percent = _number(text[:-1], text, allowed)
        if not 0 < percent <= 100:
            raise ConfigError(f"budget percentage must be in (0, 100], got {text!r}")
        return percent / 100.0
    if text.isdigit():
        return _images_fraction(int(text), pool_size)
    return final_labeled_fraction(_number(text, text, allowed), pool_size)


def _number(part: str, text: str, allowed: str) -> float:
    try:
        return float(part)
    except ValueError:
        raise ConfigError(f"bad budget {text!r}; {allowed}") from None


def _images_fraction(images: int, pool_size: int | None) -> float:
    if pool_size is None:
        raise ConfigError(f"a budget of {images} images needs the pool size")
    if pool_size < 1 or not 0 < images <= pool_size:
        raise ConfigError(
            f"budget of {images} images impossible for a pool of {pool_size}: need 1..{pool_size}"
        )
    return images / pool_size


# --- advice -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Advice:
    """The guide's recommendation for a measured pool, with the evidence behind it."""

    report: RedundancyReport
    budget: BudgetRegime
    ssl_available: bool
    recommendation: Recommendation

    def to_dict(self) -> dict[str, object]:
        return {
            "regime": self.report.regime,
            "budget": self.budget,
            "ssl_available": self.ssl_available,
            "recommendation": asdict(self.recommendation),
            "redundancy": self.report.to_dict(),
        }

    def render(self) -> str:
        """A plain-text explanation (no markup)."""
        r, rec = self.report, self.recommendation
        ssl_text = "with SSL available" if self.ssl_available else "supervised only"
        lines = [
            f"Recommendation: {rec.label}  (strategy={rec.strategy}, ssl={rec.ssl})",
            f"Pool: {r.regime}, budget: {self.budget}, {ssl_text}.",
            "",
            f"Redundancy index {r.index:.2f} over {r.n_images} images "
            f"(redundant from {r.threshold:.2f}): near-duplicate groups of "
            f"{r.mean_group_size:.1f} images on average.",
            f"- embeddings: redundancy {r.embedding_redundancy:.2f}; "
            f"{r.near_duplicate_share:.0%} of images have a near-duplicate "
            f"(within {r.near_duplicate_radius:.3g}, typical distance {r.typical_distance:.3g}); "
            f"median nearest-neighbour distance is {r.nn_distance_ratio:.2f} of the typical one.",
        ]
        if r.temporal_redundancy is not None:
            lines.append(
                f"- time: redundancy {r.temporal_redundancy:.2f}; {r.temporal_adjacency:.0%} of "
                f"frames have another pool frame within {r.temporal_window} frame(s) of the "
                "same sequence."
            )
        lines += ["", f"Why: {rec.reason}"]
        return "\n".join(lines)


def advise(report: RedundancyReport, budget_regime: str, ssl: bool) -> Advice:
    """Combine a redundancy report with a budget regime ("low"/"high") and SSL availability."""
    recommendation = recommend(report.regime, budget_regime, ssl)
    return Advice(
        report=report,
        budget=cast(BudgetRegime, budget_regime),
        ssl_available=bool(ssl),
        recommendation=recommendation,
    )
