"""Statistics over seeds: bootstrap CIs of means, paired differences and a ranking against the best.

Runs with the same seed start from the same initial set, so two methods are compared on the
differences of their per-seed values (paired by seed). A mean gets a 95% BCa bootstrap CI
(``scipy.stats.bootstrap``, seeded, so reports are reproducible); a paired difference also gets
the two-sided paired t-test p-value (``scipy.stats.ttest_rel``). With fewer than two values there
is no CI ("n too small"); values without spread give the degenerate CI [mean, mean] ("no
variance") and no p-value. Neither decides anything.

``rank`` orders methods by mean and compares the best with each other method; the p-values of
those comparisons are Holm-adjusted (``statsmodels`` ``multipletests``). A method is "worse" than
the best only when both agree: the CI of its paired difference lies below 0 and its Holm-adjusted
p is below ``ALPHA``; otherwise it is "tied with best" ("undecided" with fewer than two pairs,
"no data" without a finite value).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 9999
BOOTSTRAP_SEED = 0

TOO_FEW = "n too small"
NO_VARIANCE = "no variance"

BEST = "best"
TIED = "tied with best"
WORSE = "worse"
UNDECIDED = "undecided"
NO_DATA = "no data"  # no finite value (e.g. the AUC of a one-shot run)


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and its bootstrap CI; ``note`` says why the CI decides nothing."""

    n: int
    mean: float
    low: float
    high: float
    note: str = ""

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def text(self, digits: int = 2) -> str:
        """``47.10 ± 0.52`` (mean ± CI half-width), or the mean and why there is no CI."""
        if self.n == 0:
            return "-"
        if self.note:
            return f"{self.mean:.{digits}f} ({self.why()})"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"

    def why(self) -> str:
        """Why there is no CI: ``n=1 too small`` or ``no variance, n=3``."""
        return f"n={self.n} too small" if self.note == TOO_FEW else f"{self.note}, n={self.n}"


@dataclass(frozen=True)
class PairedDiff(Estimate):
    """Mean of per-seed differences a - b with its CI and the paired t-test's p-value."""

    p: float = math.nan

    def text(self, digits: int = 2) -> str:
        """``-1.20 [-2.00, -0.40]``, or the mean difference and why there is no CI."""
        if self.n == 0:
            return "-"
        if self.note:
            return f"{self.mean:+.{digits}f} ({self.why()})"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def bootstrap_mean(values: Sequence[float]) -> Estimate:
    """Mean of the finite values and its 95% BCa bootstrap CI (seeded)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Estimate(0, math.nan, math.nan, math.nan, TOO_FEW)
    mean = float(x.mean())
    if x.size < 2:
        return Estimate(int(x.size), mean, math.nan, math.nan, TOO_FEW)
    if np.allclose(x, x[0], rtol=1e-9, atol=1e-12):  # equal up to rounding
        return Estimate(int(x.size), mean, mean, mean, NO_VARIANCE)
    result = stats.bootstrap(
        (x,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="BCa",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ci = result.confidence_interval
    return Estimate(int(x.size), mean, float(ci.low), float(ci.high))


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> PairedDiff:
    """a - b over the seeds where both have a finite value."""
    seeds = sorted(s for s in a.keys() & b.keys() if math.isfinite(a[s]) and math.isfinite(b[s]))
    x = np.asarray([a[s] for s in seeds], dtype=np.float64)
    y = np.asarray([b[s] for s in seeds], dtype=np.float64)
    estimate = bootstrap_mean(x - y)
    p = math.nan if estimate.note else float(stats.ttest_rel(x, y).pvalue)
    return PairedDiff(**asdict(estimate), p=p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values; NaN stays NaN and does not count as a test."""
    valid = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    if valid:
        gc.freeze()  # multipletests' Holm calls gc.collect(): ~0.2 s per call with torch loaded
        try:
            corrected = multipletests([p_values[i] for i in valid], alpha=ALPHA, method="holm")[1]
        finally:
            gc.unfreeze()
        for i, p in zip(valid, corrected, strict=True):
            adjusted[i] = float(p)
    return adjusted


@dataclass(frozen=True)
class Ranked:
    """One method of a ranking: its own mean and CI, its paired difference to the best (this
    minus best; None for the best), the Holm-adjusted p and the verdict."""

    name: str
    estimate: Estimate
    diff: PairedDiff | None
    p_holm: float
    verdict: str


def rank(values: Mapping[str, Mapping[int, float]]) -> list[Ranked]:
    """Methods (name -> seed -> value) by mean, highest first, each compared with the best."""
    estimates = {name: bootstrap_mean(list(v.values())) for name, v in values.items()}
    order = sorted(values, key=lambda n: -estimates[n].mean if estimates[n].n else math.inf)
    if not order:
        return []
    best, others = order[0], order[1:]
    diffs = [paired_difference(values[name], values[best]) for name in others]
    adjusted = holm([d.p for d in diffs])
    ranked = [Ranked(best, estimates[best], None, math.nan, BEST)]
    for name, diff, p in zip(others, diffs, adjusted, strict=True):
        ranked.append(Ranked(name, estimates[name], diff, p, _verdict(estimates[name], diff, p)))
    return ranked


def _verdict(estimate: Estimate, diff: PairedDiff, p_holm: float) -> str:
    if estimate.n == 0:
        return NO_DATA
    if diff.note == TOO_FEW:
        return UNDECIDED
    return WORSE if not diff.note and diff.high < 0 and p_holm < ALPHA else TIED


def clear_winner(ranking: Sequence[Ranked]) -> bool:
    """The best beats every other method significantly (and there is another method)."""
    return len(ranking) > 1 and all(r.verdict == WORSE for r in ranking[1:])


def tied_with_best(ranking: Sequence[Ranked]) -> set[str]:
    """The methods tied with the best, and the best itself when it has a tie."""
    tied = {r.name for r in ranking if r.verdict == TIED}
    return tied | {ranking[0].name} if tied else tied
