"""The paper's Table 7 from a study's results, cell by cell, with paired statistics.

A cell is a pool (its redundancy), a budget (its regime) and a setting: AL (supervised methods
only) or SSL-AL for one SSL method (the supervised methods and those trained with it, so that the
guide's SSL half is tested too: Random-SSL against Random, Batch against Batch-SSL). The guide's
pick is its family word and whether SSL is on (``advise.recommend``); every method of the study in
that family with that SSL state is a pick. MC-dropout networks (BALD) are left out: they are
compared only with their own 100% (MCD) reference.

Candidates are ranked by AUC@B (``stats.rank``): the guide is stated per budget regime (a low
budget such as 2-2 against a high one such as 10-10), that is for the whole budget curve from I to
B, which AUC@B summarizes, while mIoU@M is one point of it (its best method is listed beside).

Verdict: "agrees" when every method not significantly worse than the best is a guide pick;
"contradicts" when every guide pick is significantly worse than the best; otherwise "undecided"
(a tie includes the guide's pick and another method, too few seeds, or a single candidate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from alseg.acquisition.registry import get_strategy
from alseg.advise import budget_regime, recommend
from alseg.report.ranking import p_text
from alseg.report.records import RunRecord, redundancy
from alseg.report.stats import BEST, TIED, UNDECIDED, clear_winner, rank
from alseg.report.tables import AUC, MIOU_M, Summary, TableData, csv_text, scenarios

AGREES, CONTRADICTS = "agrees", "contradicts"
NOT_RUN = "guide's pick not run"

GUIDE_NOTE = (
    "Ranked by AUC@B, the whole budget curve the guide's budget regimes describe; mIoU@M's best "
    "for reference. Tied: not significantly worse than the best (paired by seed: 95% bootstrap "
    "CI of the difference and Holm-adjusted paired t-test, α = 0.05). Guide's pick: the study's "
    "methods of the guide's family (Random, Single = single-sample, Batch) with SSL on or off as "
    "the guide says. agrees: every method tied with the best is a pick; contradicts: every pick "
    "is significantly worse than the best; undecided: otherwise (a tie across the pick and "
    "another method, fewer than 2 seeds, one candidate). BALD (MC dropout) is left out."
)


@dataclass(frozen=True)
class GuideCell:
    """One cell of Table 7 from the results: the statistically best methods against the guide."""

    dataset: str
    pool: str
    redundancy: str
    budget: str
    budget_regime: str
    setting: str
    best: str
    auc: float
    clear: bool
    tied: str
    runner_up: str
    gap: float  # runner-up minus best, AUC@B, paired by seed
    gap_low: float
    gap_high: float
    gap_p_holm: float
    best_miou_at_m: str
    guide: str
    guide_pick: str
    verdict: str


def guide_cells(summaries: list[Summary], records: list[RunRecord]) -> list[GuideCell]:
    """Every cell of Table 7 the results fill: per dataset, budget, pool and setting."""
    final = {(r.dataset, r.budget): r.fractions[-1] for r in records if not r.is_reference}
    cells = []
    for dataset, budget in scenarios(summaries):
        regime = budget_regime(final[(dataset, budget)])
        members = [
            s
            for s in summaries
            if (s.dataset, s.budget) == (dataset, budget) and not s.reference and not s.mc_dropout
        ]
        for pool in dict.fromkeys(s.pool for s in members):
            here = [s for s in members if s.pool == pool]
            pool_regime = redundancy(dataset, pool.split(" ")[0])
            ssl_methods = [m for m in dict.fromkeys(s.ssl for s in here) if m != "none"]
            settings = [(f"SSL-AL ({m})", m) for m in ssl_methods]
            if any(s.ssl == "none" for s in here):
                settings.insert(0, ("AL", "none"))
            for setting, ssl in settings:
                candidates = [s for s in here if s.ssl in ("none", ssl)]
                cells.append(_cell(candidates, pool_regime, regime, setting, ssl != "none"))
    return cells


def _cell(
    candidates: list[Summary], pool_regime: str, regime: str, setting: str, ssl: bool
) -> GuideCell:
    ranking = rank({s.method: s.values[AUC] for s in candidates})
    by_miou = rank({s.method: s.values[MIOU_M] for s in candidates})
    first, best = candidates[0], ranking[0]
    runner = ranking[1] if len(ranking) > 1 else None
    gap = runner.diff if runner is not None else None
    contenders = {r.name for r in ranking if r.verdict in (BEST, TIED, UNDECIDED)}
    guide, picks, verdict = "-", [], "-"
    if pool_regime in ("diverse", "redundant"):
        recommendation = recommend(pool_regime, regime, ssl)
        guide = recommendation.label
        family = get_strategy(recommendation.strategy).family.guide_word
        ssl_on = recommendation.ssl != "none"
        picks = [
            s.method
            for s in candidates
            if get_strategy(s.strategy).family.guide_word == family and (s.ssl != "none") == ssl_on
        ]
        verdict = _verdict(contenders, set(picks), len(ranking))
    return GuideCell(
        first.dataset,
        first.pool,
        pool_regime,
        first.budget,
        regime,
        setting,
        best.name,
        best.estimate.mean,
        clear_winner(ranking),
        ", ".join(r.name for r in ranking if r.verdict == TIED),
        runner.name if runner is not None else "-",
        gap.mean if gap is not None else math.nan,
        gap.low if gap is not None else math.nan,
        gap.high if gap is not None else math.nan,
        runner.p_holm if runner is not None else math.nan,
        by_miou[0].name,
        guide,
        ", ".join(picks) or "-",
        verdict,
    )


def _verdict(contenders: set[str], picks: set[str], candidates: int) -> str:
    if not picks:
        return NOT_RUN
    if candidates > 1 and contenders <= picks:
        return AGREES
    if not contenders & picks:
        return CONTRADICTS
    return UNDECIDED


def guide_table(cells: list[GuideCell]) -> TableData:
    """Table 7 from the results, one row per cell; the best in bold when it is a clear winner."""
    table = TableData(
        "Best method per scenario (the paper's Table 7, from these results)",
        [
            "dataset",
            "pool",
            "redundancy",
            "budget",
            "regime",
            "setting",
            "best (AUC@B)",
            "AUC@B",
            "tied with best",
            "runner-up",
            "runner-up Δ [95% CI]",
            "p (Holm)",
            "best (mIoU@M)",
            "paper's guide",
            "guide's pick here",
            "verdict",
        ],
        note=GUIDE_NOTE,
    )
    for c in cells:
        gap = "-" if math.isnan(c.gap) else f"{c.gap:+.2f}"
        if not math.isnan(c.gap_low):
            gap += f" [{c.gap_low:+.2f}, {c.gap_high:+.2f}]"
        texts = [c.dataset, c.pool, c.redundancy, c.budget, c.budget_regime, c.setting]
        texts += [c.best, f"{c.auc:.2f}", c.tied or "-", c.runner_up, gap, p_text(c.gap_p_holm)]
        texts += [c.best_miou_at_m, c.guide, c.guide_pick, c.verdict]
        table.rows.append([(text, c.clear and i == 6) for i, text in enumerate(texts)])
    return table


def guide_csv(cells: list[GuideCell]) -> str:
    names = [f.name for f in fields(GuideCell)]
    return csv_text(names, ([getattr(c, name) for name in names] for c in cells))
