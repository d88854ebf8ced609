"""Ranking with CIs per pool x budget: each method's mean and 95% CI of AUC@B and mIoU@M, its
paired difference to the best with CI and Holm-adjusted p, and a verdict (see ``stats``).

Methods compete within a block: the AL methods of one dataset, budget and pool (supervised and
SSL alike), with MC-dropout networks (BALD) in a block of their own. The 100% references are
shown beside their block, never ranked.
"""

from __future__ import annotations

import math
from dataclasses import replace

from alseg.report.stats import Ranked, bootstrap_mean, clear_winner, rank, tied_with_best
from alseg.report.tables import (
    AUC,
    BOLD,
    MIOU_M,
    TIE,
    Summary,
    TableData,
    csv_text,
    metric_label,
    row_order,
)

#: The ranked metrics, the first one orders the rows.
RANKED = (AUC, MIOU_M)

Block = tuple[str, str, str, bool]
Rankings = dict[Block, dict[str, list[Ranked]]]

RANKING_NOTE = (
    "mean ± half-width of the 95% BCa bootstrap CI over seeds; Δ to best: mean paired "
    "difference (this − best, paired by seed: same seed = same initial set) with its 95% "
    "bootstrap CI; p: paired t-test (scipy ttest_rel), Holm-adjusted over the comparisons with "
    "the best of the block. worse: CI below 0 and Holm p < 0.05; otherwise tied with best "
    "(undecided with fewer than 2 paired seeds). Bold: the best beats every other method. "
    "MC-dropout networks (BALD) are ranked in their own block."
)


def rank_blocks(summaries: list[Summary]) -> Rankings:
    """Per block (dataset, budget, pool, MC dropout) and metric, its AL methods ranked."""
    blocks: dict[Block, list[Summary]] = {}
    for s in summaries:
        if not s.reference:
            blocks.setdefault(s.block, []).append(s)
    return {
        block: {metric: rank({s.method: s.values[metric] for s in members}) for metric in RANKED}
        for block, members in blocks.items()
    }


def marked(summaries: list[Summary], rankings: Rankings) -> list[Summary]:
    """The summaries with their marks per metric: BOLD (a clear winner) or TIE."""
    result = []
    for s in summaries:
        marks = {}
        for metric, ranking in ({} if s.reference else rankings[s.block]).items():
            if s.method == ranking[0].name and clear_winner(ranking):
                marks[metric] = BOLD
            elif s.method in tied_with_best(ranking):
                marks[metric] = TIE
        result.append(replace(s, marks=marks))
    return result


def ranking_tables(summaries: list[Summary], rankings: Rankings) -> list[TableData]:
    """One table per (dataset, budget, pool): the ranked methods of each block, references after."""
    tables = []
    for dataset, budget, pool in dict.fromkeys((s.dataset, s.budget, s.pool) for s in summaries):
        members = [s for s in summaries if (s.dataset, s.budget, s.pool) == (dataset, budget, pool)]
        names = [metric_label(metric, members[0]) for metric in RANKED]
        header = ["Method", "seeds"]
        for name in names:
            header += [f"{name} (95% CI)", f"{name} Δ to best [95% CI]", "p (Holm)", "verdict"]
        table = TableData(
            f"{dataset} {pool}, budget {budget}: ranking with paired statistics",
            header,
            note=RANKING_NOTE,
        )
        for s in _ordered(members, rankings):
            table.rows.append(_row(s, rankings))
        tables.append(table)
    return tables


def _ordered(members: list[Summary], rankings: Rankings) -> list[Summary]:
    """Each block's methods by rank of the first metric, followed by its references."""
    by_key = {(s.mc_dropout, s.method): s for s in members}
    ordered = []
    for mc_dropout in dict.fromkeys(key[0] for key in row_order(members)):
        block = (*members[0].block[:3], mc_dropout)
        ranked = rankings.get(block, {}).get(RANKED[0], [])
        ordered += [by_key[(mc_dropout, r.name)] for r in ranked]
        ordered += [s for s in members if s.reference and s.mc_dropout == mc_dropout]
    return ordered


def _row(s: Summary, rankings: Rankings) -> list[tuple[str, bool]]:
    row = [(s.method, False), (str(len(s.values[RANKED[0]])), False)]
    for metric in RANKED:
        if s.reference:
            estimate = bootstrap_mean(list(s.values[metric].values()))
            row += [(estimate.text(), False), ("-", False), ("-", False), ("reference", False)]
            continue
        ranked = next(r for r in rankings[s.block][metric] if r.name == s.method)
        mark = s.marks.get(metric)
        verdict = f"{ranked.verdict} (tied)" if ranked.diff is None and mark == TIE else None
        row += [
            (ranked.estimate.text(), mark == BOLD),
            ("-" if ranked.diff is None else ranked.diff.text(), False),
            (p_text(ranked.p_holm), False),
            (verdict or ranked.verdict, mark == BOLD),
        ]
    return row


def p_text(p: float) -> str:
    """``0.012``, ``<0.001`` or ``-`` (no test)."""
    if math.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def ranking_csv(summaries: list[Summary], rankings: Rankings) -> str:
    """One row per (block, metric, method), the references without a comparison."""
    header = ["dataset", "budget", "pool", "mc_dropout", "metric", "step", "method", "rank"]
    header += ["seeds", "mean", "ci_low", "ci_high", "ci_note", "diff_to_best", "diff_low"]
    header += ["diff_high", "diff_note", "p", "p_holm", "verdict"]
    rows = []
    for metric in RANKED:
        for s in summaries:
            step = s.m if metric == MIOU_M else s.b
            first = [s.dataset, s.budget, s.pool, s.mc_dropout, metric, step, s.method]
            if s.reference:
                e = bootstrap_mean(list(s.values[metric].values()))
                rows.append(
                    [*first, None, e.n, e.mean, e.low, e.high, e.note, *[None] * 6, "reference"]
                )
                continue
            ranking = rankings[s.block][metric]
            place = next(i for i, r in enumerate(ranking) if r.name == s.method)
            r, d = ranking[place], ranking[place].diff
            rows.append(
                [*first, place + 1, r.estimate.n, r.estimate.mean, r.estimate.low]
                + [r.estimate.high, r.estimate.note]
                + ([None] * 5 if d is None else [d.mean, d.low, d.high, d.note, d.p])
                + [r.p_holm, r.verdict]
            )
    return csv_text(header, rows)
