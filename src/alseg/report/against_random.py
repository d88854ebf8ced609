"""Each method against Random, paired by seed: where its labels buy IoU, and how much room is left.

Two tables per scenario (dataset, pool, budget; supervised, not MC-dropout runs):

- **per-class gains**: IoU of each class at the final budget step, method minus Random, mean of
  the per-seed differences with its bootstrap CI (``stats.paired_difference``), beside Random's
  mean IoU; a class absent from the validation frames (IoU None) is left out of that seed.
- **saturation**: per method, the mIoU gained from the first to the last budget step (paired by
  seed), and the final mIoU's gap to the 100% reference of the same pool (mean minus mean).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from alseg.report.records import RunRecord
from alseg.report.stats import bootstrap_mean, paired_difference
from alseg.report.tables import TableData

RANDOM = "random"

Scenario = tuple[str, str, int | None, str]  # dataset, pool kind, pool size, budget


def against_random_tables(records: list[RunRecord]) -> list[TableData]:
    """Per scenario with Random and another method: the per-class and saturation tables."""
    tables = []
    for scenario, runs in _scenarios(records).items():
        methods = _methods(runs)
        if RANDOM not in methods or len(methods) < 2:
            continue
        references = [
            r
            for r in records
            if r.is_reference and not r.mc_dropout and r.ssl == "none"
            and (r.dataset, r.pool, r.config.pool.size) == scenario[:3]
        ]  # fmt: skip
        tables.append(per_class_table(scenario, methods))
        tables.append(saturation_table(scenario, methods, references))
    return tables


def per_class_table(scenario: Scenario, methods: dict[str, list[RunRecord]]) -> TableData:
    """Classes as rows: Random's final IoU, then each method's paired gain over it."""
    dataset, pool, _, budget = scenario
    others = [m for m in methods if m != RANDOM]
    labels = {m: methods[m][0].method for m in methods}
    table = TableData(
        f"{dataset} {pool}, budget {budget}: per-class IoU at the final step against Random",
        ["Class", f"{labels[RANDOM]} IoU"] + [f"{labels[m]} − Random" for m in others],
        note="IoU (%) at the last budget step; gains are means of per-seed differences with "
        "95% bootstrap CIs (bold: the CI excludes 0).",
    )
    random_iou = _final_class_iou(methods[RANDOM])
    for name in _class_names(methods[RANDOM]):
        base = random_iou.get(name, {})
        row = [(name, False), (bootstrap_mean(list(base.values())).text(1), False)]
        for method in others:
            diff = paired_difference(_final_class_iou(methods[method]).get(name, {}), base)
            decided = not diff.note and (diff.low > 0 or diff.high < 0)
            row.append((diff.text(1), decided))
        table.rows.append(row)
    return table


def saturation_table(
    scenario: Scenario, methods: dict[str, list[RunRecord]], references: list[RunRecord]
) -> TableData:
    """Per method: mIoU at the first and last step, the gain between them, the gap to 100%."""
    dataset, pool, _, budget = scenario
    reference = bootstrap_mean([r.miou_at_budget for r in references])
    table = TableData(
        f"{dataset} {pool}, budget {budget}: how much the labels added",
        ["Method", "first step", "last step", "gain (last − first)", "100% − last"],
        note="mIoU (%), mean ± CI half-width over seeds; the gain is paired by seed (bold: its "
        f"CI excludes 0); 100%: the reference of this pool ({reference.text(1)}), "
        "minus the method's mean final mIoU.",
    )
    for runs in methods.values():
        first = {r.seed: r.mious[0] for r in runs}
        last = {r.seed: r.mious[-1] for r in runs}
        gain = paired_difference(last, first)
        decided = not gain.note and (gain.low > 0 or gain.high < 0)
        final = bootstrap_mean(list(last.values()))
        gap = reference.mean - final.mean if reference.n else math.nan
        table.rows.append(
            [
                (runs[0].method, False),
                (bootstrap_mean(list(first.values())).text(1), False),
                (final.text(1), False),
                (gain.text(1), decided),
                ("-" if math.isnan(gap) else f"{gap:+.1f}", False),
            ]
        )
    return table


def _scenarios(records: Iterable[RunRecord]) -> dict[Scenario, list[RunRecord]]:
    grouped: dict[Scenario, list[RunRecord]] = {}
    for r in records:
        if r.is_reference or r.mc_dropout or r.ssl != "none":
            continue
        grouped.setdefault((r.dataset, r.pool, r.config.pool.size, r.budget), []).append(r)
    return grouped


def _methods(runs: list[RunRecord]) -> dict[str, list[RunRecord]]:
    methods: dict[str, list[RunRecord]] = {}
    for r in runs:
        methods.setdefault(r.strategy, []).append(r)
    return methods


def _final_class_iou(runs: list[RunRecord]) -> dict[str, dict[int, float]]:
    """Class name -> seed -> IoU (%) at the run's last step (classes without an IoU left out)."""
    values: dict[str, dict[int, float]] = {}
    for r in runs:
        for name, iou in r.cycles[-1].result.per_class_iou.items():
            if iou is not None and np.isfinite(iou):
                values.setdefault(name, {})[r.seed] = iou
    return values


def _class_names(runs: list[RunRecord]) -> list[str]:
    """Classes with an IoU in some run (those never in the validation frames left out)."""
    return list(dict.fromkeys(_final_class_iou(runs)))
