"""The paper's tables from a study: mIoU@M and AUC@B per method x pool (mean +- std over seeds,
the significantly best in bold, ties shown, the 100% references) and the selection diagnostics."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alseg.metrics import budget_steps
from alseg.report.records import RunRecord

DIAGNOSTICS = (
    ("distinct_sequences", "sequences"),
    ("distinct_groups", "groups"),
    ("near_duplicate_share", "near-dup"),
)

#: Per-seed values of a summary: mIoU@B (last cycle), mIoU@M and AUC@B.
MIOU_B, MIOU_M, AUC = "miou_at_budget", "miou_at_m", "auc_at_budget"
#: How a summary stands in its column (set by ``ranking.marked``).
BOLD, TIE = "best", "tied"


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (n - 1) over seeds."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stat:
        x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
        if x.size == 0:
            return cls(math.nan, math.nan, 0)
        return cls(float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else math.nan, int(x.size))

    def text(self, digits: int = 2) -> str:
        if self.n == 0:
            return "-"
        if self.n == 1:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


@dataclass(frozen=True)
class Summary:
    """One method on one pool at one budget: its per-seed values (``values[metric][seed]``),
    the budget steps M (of mIoU@M) and B, and its marks per metric (BOLD, TIE or none)."""

    dataset: str
    budget: str
    pool: str
    method: str
    strategy: str
    ssl: str
    reference: bool
    mc_dropout: bool
    m: float
    b: float
    values: dict[str, dict[int, float]]
    diagnostics: dict[str, float]
    marks: dict[str, str] = field(default_factory=dict)

    def stat(self, metric: str) -> Stat:
        return Stat.of(self.values[metric].values())

    @property
    def block(self) -> tuple[str, str, str, bool]:
        """What a method competes within: dataset, budget, pool and MC dropout or not."""
        return self.dataset, self.budget, self.pool, self.mc_dropout


@dataclass
class TableData:
    """A rendered-agnostic table: cells are (text, bold)."""

    title: str
    header: list[str]
    rows: list[list[tuple[str, bool]]] = field(default_factory=list)
    note: str = ""


def pool_labels(records: list[RunRecord]) -> dict[tuple[str, str, int | None], str]:
    """Pool kind as the column label, with its size where one kind comes in several sizes."""
    ids = list(dict.fromkeys(r.pool_id for r in records))
    labels = {}
    for dataset, kind, size in ids:
        same_kind = [i for i in ids if i[0] == dataset and i[1] == kind]
        labels[(dataset, kind, size)] = kind if len(same_kind) == 1 else f"{kind} (n={size})"
    return labels


def reference_span(records: list[RunRecord], dataset: str, budget: str) -> float:
    """Labeled-fraction span (B - I) of a budget, from the runs that used it."""
    for record in records:
        if not record.is_reference and record.dataset == dataset and record.budget == budget:
            return record.fractions[-1] - record.fractions[0]
    return math.nan


def summarize(records: list[RunRecord], ms: dict[str, float]) -> list[Summary]:
    """Per (dataset, budget, pool, method) the per-seed mIoU@B, mIoU@M (M = ``ms[budget]``) and
    AUC@B; the 100% references join every budget of their pool (AUC = mIoU x span)."""
    labels = pool_labels(records)
    runs = [r for r in records if not r.is_reference]
    last_step = {r.budget: budget_steps(r.config.budget)[-1] for r in runs}
    groups: dict[tuple[str, str, str, bool, str], list[RunRecord]] = {}
    for record in runs:
        key = (record.dataset, record.budget, labels[record.pool_id])
        groups.setdefault((*key, record.mc_dropout, record.method), []).append(record)
    for dataset, budget in dict.fromkeys((r.dataset, r.budget) for r in runs):
        pools = {labels[r.pool_id] for r in runs if (r.dataset, r.budget) == (dataset, budget)}
        for record in records:
            pool = labels[record.pool_id]
            if record.is_reference and record.dataset == dataset and pool in pools:
                key = (dataset, budget, pool, record.mc_dropout, record.method)
                groups.setdefault(key, []).append(record)
    summaries = []
    for (dataset, budget, pool, mc_dropout, method), members in groups.items():
        first, m = members[0], ms[budget]
        span = reference_span(records, dataset, budget)
        values = {
            MIOU_B: {r.seed: r.miou_at_budget for r in members},
            MIOU_M: {r.seed: r.miou_at(m) for r in members},
            AUC: {
                r.seed: r.miou_at_budget * span if r.is_reference else r.auc_at_budget
                for r in members
            },
        }
        diagnostics = {name: _mean(r.diagnostic(name) for r in members) for name, _ in DIAGNOSTICS}
        summaries.append(
            Summary(
                dataset,
                budget,
                pool,
                method,
                first.strategy,
                first.ssl,
                first.is_reference,
                mc_dropout,
                m,
                last_step[budget],
                values,
                diagnostics,
            )
        )
    return summaries


def _mean(values: Iterable[float]) -> float:
    x = [v for v in values if not math.isnan(v)]
    return float(np.mean(x)) if x else math.nan


def scenarios(summaries: list[Summary]) -> list[tuple[str, str]]:
    """The (dataset, budget) pairs, in study order."""
    return list(dict.fromkeys((s.dataset, s.budget) for s in summaries))


def row_order(summaries: list[Summary]) -> list[tuple[bool, str]]:
    """(MC dropout, method) of the rows: AL methods in study order (supervised first, then each
    SSL method), the 100% reference, then the MC-dropout block (BALD, 100% (MCD))."""
    ssl_order = list(dict.fromkeys(s.ssl for s in summaries))
    ordered = sorted(summaries, key=lambda s: (s.mc_dropout, s.reference, ssl_order.index(s.ssl)))
    return list(dict.fromkeys((s.mc_dropout, s.method) for s in ordered))


def metric_label(metric: str, summary: Summary) -> str:
    """``mIoU@30`` (MIOU_M) or ``AUC@50`` (AUC): the metric at its budget step."""
    return f"mIoU@{summary.m:g}" if metric == MIOU_M else f"AUC@{summary.b:g}"


def cell_text(summary: Summary, metric: str) -> tuple[str, bool]:
    """Mean ± std, `` (tied)`` where the best is not separable from others; bold when best."""
    mark = summary.marks.get(metric, "")
    return summary.stat(metric).text() + (" (tied)" if mark == TIE else ""), mark == BOLD


RESULTS_NOTE = (
    "mean ± sample std over seeds. Bold: the method beats every other of its block "
    "significantly (paired by seed: 95% bootstrap CI of the difference excludes 0 and the "
    "Holm-adjusted paired t-test p < 0.05); (tied): the best mean and the methods it does not "
    "beat significantly. BALD (an MC-dropout network) is ranked only within its own block, "
    "beside its 100% (MCD) reference. 100% rows: trained on the whole pool "
    "(AUC = mIoU × (B − I)), never ranked."
)


def result_tables(summaries: list[Summary]) -> list[TableData]:
    """One table per (dataset, budget): methods x pools, mIoU@M and AUC@B."""
    tables = []
    for dataset, budget in scenarios(summaries):
        members = [s for s in summaries if (s.dataset, s.budget) == (dataset, budget)]
        pools = list(dict.fromkeys(s.pool for s in members))
        cells = {(s.mc_dropout, s.method, s.pool): s for s in members}
        names = [metric_label(MIOU_M, members[0]), metric_label(AUC, members[0])]
        table = TableData(
            f"{dataset}, budget {budget}: {names[0]} and {names[1]}",
            ["Method"] + [f"{p} {name}" for p in pools for name in names],
            note=RESULTS_NOTE,
        )
        for mc_dropout, method in row_order(members):
            row = [(method, False)]
            for pool in pools:
                s = cells.get((mc_dropout, method, pool))
                row += (
                    [("-", False)] * 2 if s is None else [cell_text(s, MIOU_M), cell_text(s, AUC)]
                )
            table.rows.append(row)
        tables.append(table)
    return tables


def diagnostics_tables(summaries: list[Summary]) -> list[TableData]:
    """Per (dataset, budget): distinct sequences and groups per acquisition, near-duplicates."""
    tables = []
    for dataset, budget in scenarios(summaries):
        members = [
            s for s in summaries if (s.dataset, s.budget) == (dataset, budget) and not s.reference
        ]
        pools = list(dict.fromkeys(s.pool for s in members))
        cells = {(s.mc_dropout, s.method, s.pool): s for s in members}
        header = ["Method"] + [f"{p} {label}" for p in pools for _, label in DIAGNOSTICS]
        table = TableData(
            f"{dataset}, budget {budget}: selection diagnostics",
            header,
            note="per acquisition, mean over cycles and seeds: distinct sequences and pool groups "
            "of the picks, share of picks with a near-duplicate among the picks.",
        )
        for mc_dropout, method in row_order(members):
            row = [(method, False)]
            for pool in pools:
                s = cells.get((mc_dropout, method, pool))
                for name, _ in DIAGNOSTICS:
                    value = math.nan if s is None else s.diagnostics[name]
                    digits = 2 if name == "near_duplicate_share" else 1
                    row.append(("-" if math.isnan(value) else f"{value:.{digits}f}", False))
            table.rows.append(row)
        tables.append(table)
    return tables


def markdown(table: TableData) -> str:
    """A GitHub-flavoured Markdown table with its title and note."""
    lines = [f"### {table.title}", ""]
    lines.append("| " + " | ".join(table.header) + " |")
    lines.append("|" + "|".join("---" for _ in table.header) + "|")
    for row in table.rows:
        cells = [f"**{text}**" if bold and text != "-" else text for text, bold in row]
        lines.append("| " + " | ".join(cells) + " |")
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines) + "\n"


def csv_text(header: list[str], rows: Iterable[list[object]]) -> str:
    """CSV with a header; floats to 6 significant digits, NaN and None as empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_num(value) for value in row] for row in rows)
    return buffer.getvalue()


def summary_csv(summaries: list[Summary]) -> str:
    """Per summary: mean and sample std of mIoU@M, mIoU@B and AUC@B, marks, diagnostics."""
    names = [name for name, _ in DIAGNOSTICS]
    header = ["dataset", "budget", "pool", "method", "strategy", "ssl", "reference"]
    header += ["mc_dropout", "seeds", "m", "miou_at_m_mean", "miou_at_m_std", "miou_mean"]
    header += ["miou_std", "auc_mean", "auc_std", "miou_at_m_mark", "auc_mark", *names]
    rows = []
    for s in summaries:
        miou_m, miou, auc = s.stat(MIOU_M), s.stat(MIOU_B), s.stat(AUC)
        rows.append(
            [s.dataset, s.budget, s.pool, s.method, s.strategy, s.ssl, s.reference]
            + [s.mc_dropout, auc.n, s.m, miou_m.mean, miou_m.std, miou.mean, miou.std]
            + [auc.mean, auc.std, s.marks.get(MIOU_M, ""), s.marks.get(AUC, "")]
            + [s.diagnostics[n] for n in names]
        )
    return csv_text(header, rows)


def runs_csv(records: list[RunRecord], ms: dict[str, float]) -> str:
    """One row per run and cycle, with the run's mIoU@B, mIoU@M (M of its budget) and AUC@B."""
    header = ["key", "dataset", "pool", "pool_size", "budget", "ssl", "strategy", "method"]
    header += ["seed", "cycle", "labeled", "nominal_fraction", "miou", "miou_at_budget", "m"]
    header += ["miou_at_m", "auc_at_budget", *(name for name, _ in DIAGNOSTICS)]
    rows = []
    for r in records:
        m = None if r.is_reference else ms[r.budget]
        miou_at_m = r.miou_at_budget if m is None else r.miou_at(m)
        for c in r.cycles:
            rows.append(
                [r.key, r.dataset, r.pool, r.config.pool.size, r.budget, r.ssl, r.strategy]
                + [r.method, r.seed, c.cycle, len(c.labeled), c.result.nominal_fraction]
                + [c.result.miou, r.miou_at_budget, m, miou_at_m, r.auc_at_budget]
                + [c.result.diagnostics.get(name) for name, _ in DIAGNOSTICS]
            )
    return csv_text(header, rows)


def _num(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return "" if value is None else value


@dataclass
class Section:
    """A part of the report: a heading, some text, tables and figures (paths relative to it)."""

    title: str
    text: str = ""
    tables: list[TableData] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def markdown_document(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        if section.text:
            parts.append(section.text + "\n")
        parts += [markdown(table) for table in section.tables]
        parts += [f"![{Path(figure).stem}]({figure})\n" for figure in section.figures]
    return "\n".join(parts)
