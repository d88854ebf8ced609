"""The paper's tables from a study: mIoU@B and AUC@B per method x pool (mean +- std over seeds,
best in bold, the 100% references), selection diagnostics, and the best method per scenario."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from alseg.acquisition.registry import get_strategy
from alseg.advise import budget_regime, recommend
from alseg.report.records import RunRecord, redundancy

DIAGNOSTICS = (
    ("distinct_sequences", "sequences"),
    ("distinct_groups", "groups"),
    ("near_duplicate_share", "near-dup"),
)


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
    """One method on one pool at one budget, over its seeds."""

    dataset: str
    budget: str
    pool: str
    method: str
    strategy: str
    ssl: str
    reference: bool
    miou: Stat
    auc: Stat
    diagnostics: dict[str, float]
    best_miou: bool = False
    best_auc: bool = False


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


def summarize(records: list[RunRecord]) -> list[Summary]:
    """Mean +- std over seeds per (dataset, budget, pool, method); the 100% references join
    every budget of their pool (AUC = mIoU x span); best mean per column marked."""
    labels = pool_labels(records)
    runs = [r for r in records if not r.is_reference]
    scenarios = list(dict.fromkeys((r.dataset, r.budget) for r in runs))
    groups: dict[tuple[str, str, str, str], list[RunRecord]] = {}
    for record in runs:
        groups.setdefault(
            (record.dataset, record.budget, labels[record.pool_id], record.method), []
        ).append(record)
    for dataset, budget in scenarios:
        pools = {labels[r.pool_id] for r in runs if (r.dataset, r.budget) == (dataset, budget)}
        for record in records:
            if (
                record.is_reference
                and record.dataset == dataset
                and labels[record.pool_id] in pools
            ):
                key = (dataset, budget, labels[record.pool_id], record.method)
                groups.setdefault(key, []).append(record)
    summaries = []
    for (dataset, budget, pool, method), members in groups.items():
        first = members[0]
        span = reference_span(records, dataset, budget)
        aucs = [r.miou_at_budget * span if r.is_reference else r.auc_at_budget for r in members]
        summaries.append(
            Summary(
                dataset,
                budget,
                pool,
                method,
                first.strategy,
                first.ssl,
                first.is_reference,
                Stat.of(r.miou_at_budget for r in members),
                Stat.of(aucs),
                {name: _mean(r.diagnostic(name) for r in members) for name, _ in DIAGNOSTICS},
            )
        )
    return _mark_best(summaries)


def _mean(values: Iterable[float]) -> float:
    x = [v for v in values if not math.isnan(v)]
    return float(np.mean(x)) if x else math.nan


def _mark_best(summaries: list[Summary]) -> list[Summary]:
    """Bold the highest mean among the AL methods (not the references) of each column."""
    best: dict[tuple[str, str, str, str], float] = {}
    for s in summaries:
        if not s.reference:
            for metric, stat in (("miou", s.miou), ("auc", s.auc)):
                column = (s.dataset, s.budget, s.pool, metric)
                if not math.isnan(stat.mean):
                    best[column] = max(best.get(column, -math.inf), stat.mean)
    marked = []
    for s in summaries:
        column = (s.dataset, s.budget, s.pool)
        is_best = {
            metric: not s.reference and stat.mean == best.get((*column, metric))
            for metric, stat in (("miou", s.miou), ("auc", s.auc))
        }
        marked.append(replace(s, best_miou=is_best["miou"], best_auc=is_best["auc"]))
    return marked


def _scenarios(summaries: list[Summary]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((s.dataset, s.budget) for s in summaries))


def _methods(summaries: list[Summary]) -> list[str]:
    """AL methods in study order (supervised first, then each SSL method), references last."""
    methods = list(dict.fromkeys(s.method for s in summaries if not s.reference))
    ssl_order = list(dict.fromkeys(s.ssl for s in summaries if not s.reference))
    by_ssl = {s.method: ssl_order.index(s.ssl) for s in summaries if not s.reference}
    methods.sort(key=lambda m: by_ssl[m])
    return methods + list(dict.fromkeys(s.method for s in summaries if s.reference))


def result_tables(summaries: list[Summary]) -> list[TableData]:
    """One table per (dataset, budget): methods x pools, mIoU@B and AUC@B."""
    tables = []
    for dataset, budget in _scenarios(summaries):
        members = [s for s in summaries if (s.dataset, s.budget) == (dataset, budget)]
        pools = list(dict.fromkeys(s.pool for s in members))
        cells = {(s.method, s.pool): s for s in members}
        header = ["Method"] + [f"{p} {m}" for p in pools for m in ("mIoU@B", "AUC@B")]
        table = TableData(
            f"{dataset}, budget {budget}: mIoU@B and AUC@B",
            header,
            note="mean ± sample std over seeds; best AL method per column in bold; "
            "100% rows: trained on the whole pool (AUC = mIoU × (B − I)).",
        )
        for method in _methods(members):
            row = [(method, False)]
            for pool in pools:
                s = cells.get((method, pool))
                if s is None:
                    row += [("-", False), ("-", False)]
                else:
                    row += [(s.miou.text(), s.best_miou), (s.auc.text(), s.best_auc)]
            table.rows.append(row)
        tables.append(table)
    return tables


def diagnostics_tables(summaries: list[Summary]) -> list[TableData]:
    """Per (dataset, budget): distinct sequences and groups per acquisition, near-duplicates."""
    tables = []
    for dataset, budget in _scenarios(summaries):
        members = [
            s for s in summaries if (s.dataset, s.budget) == (dataset, budget) and not s.reference
        ]
        pools = list(dict.fromkeys(s.pool for s in members))
        cells = {(s.method, s.pool): s for s in members}
        header = ["Method"] + [f"{p} {label}" for p in pools for _, label in DIAGNOSTICS]
        table = TableData(
            f"{dataset}, budget {budget}: selection diagnostics",
            header,
            note="per acquisition, mean over cycles and seeds: distinct sequences and pool groups "
            "of the picks, share of picks with a near-duplicate among the picks.",
        )
        for method in _methods(members):
            row = [(method, False)]
            for pool in pools:
                s = cells.get((method, pool))
                for name, _ in DIAGNOSTICS:
                    value = math.nan if s is None else s.diagnostics[name]
                    digits = 2 if name == "near_duplicate_share" else 1
                    row.append(("-" if math.isnan(value) else f"{value:.{digits}f}", False))
            table.rows.append(row)
        tables.append(table)
    return tables


@dataclass(frozen=True)
class Best:
    """The best method of one scenario and setting, beside the paper's guide."""

    dataset: str
    pool: str
    redundancy: str
    budget: str
    budget_regime: str
    setting: str
    best: str
    miou: float
    runner_up: str
    gap: float
    best_auc: str
    guide: str
    agrees: bool | None


def best_per_scenario(summaries: list[Summary], records: list[RunRecord]) -> list[Best]:
    """Table 7 from the results: per pool, budget and setting (AL, or SSL-AL per SSL method)
    the method with the best mean mIoU@B, against what the paper's guide recommends."""
    final = {(r.dataset, r.budget): r.fractions[-1] for r in records if not r.is_reference}
    rows = []
    for dataset, budget in _scenarios(summaries):
        regime = budget_regime(final[(dataset, budget)])
        members = [
            s for s in summaries if (s.dataset, s.budget) == (dataset, budget) and not s.reference
        ]
        for pool in dict.fromkeys(s.pool for s in members):
            pool_kind = pool.split(" ")[0]
            for ssl in dict.fromkeys(s.ssl for s in members):
                candidates = [s for s in members if s.pool == pool and s.ssl == ssl]
                ranked = sorted(candidates, key=lambda s: -s.miou.mean)
                by_auc = max(candidates, key=lambda s: s.auc.mean)
                pool_regime = redundancy(dataset, pool_kind)
                guide, agrees = "-", None
                if pool_regime in ("diverse", "redundant"):
                    guide = recommend(pool_regime, regime, ssl != "none").label
                    family = get_strategy(ranked[0].strategy).family.guide_word
                    agrees = family == guide.split(" ")[0].split("-")[0]
                rows.append(
                    Best(
                        dataset,
                        pool,
                        pool_regime,
                        budget,
                        regime,
                        "AL" if ssl == "none" else f"SSL-AL ({ssl})",
                        ranked[0].method,
                        ranked[0].miou.mean,
                        ranked[1].method if len(ranked) > 1 else "-",
                        ranked[0].miou.mean - ranked[1].miou.mean if len(ranked) > 1 else math.nan,
                        by_auc.method,
                        guide,
                        agrees,
                    )
                )
    return rows


def best_table(rows: list[Best]) -> TableData:
    table = TableData(
        "Best method per scenario (the paper's Table 7, from these results)",
        [
            "dataset",
            "pool",
            "redundancy",
            "budget",
            "regime",
            "setting",
            "best (mIoU@B)",
            "mIoU@B",
            "runner-up",
            "gap",
            "best (AUC@B)",
            "paper's guide",
            "agrees",
        ],
        note="agrees: the best method is of the guide's family (Random, Single = single-sample, "
        "Batch = batch-based).",
    )
    for b in rows:
        agrees = "-" if b.agrees is None else ("yes" if b.agrees else "no")
        cells = [
            b.dataset,
            b.pool,
            b.redundancy,
            b.budget,
            b.budget_regime,
            b.setting,
            b.best,
            f"{b.miou:.2f}",
            b.runner_up,
            "-" if math.isnan(b.gap) else f"{b.gap:.2f}",
            b.best_auc,
            b.guide,
            agrees,
        ]
        table.rows.append([(c, c == b.best) for c in cells])
    return table


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


def summary_csv(summaries: list[Summary]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [name for name, _ in DIAGNOSTICS]
    writer.writerow(
        ["dataset", "budget", "pool", "method", "strategy", "ssl", "reference", "seeds"]
        + ["miou_mean", "miou_std", "auc_mean", "auc_std", "best_miou", "best_auc", *names]
    )
    for s in summaries:
        writer.writerow(
            [s.dataset, s.budget, s.pool, s.method, s.strategy, s.ssl, s.reference, s.miou.n]
            + [_num(s.miou.mean), _num(s.miou.std), _num(s.auc.mean), _num(s.auc.std)]
            + [s.best_miou, s.best_auc, *(_num(s.diagnostics[n]) for n in names)]
        )
    return buffer.getvalue()


def runs_csv(records: list[RunRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["key", "dataset", "pool", "pool_size", "budget", "ssl", "strategy", "method", "seed"]
        + ["cycle", "labeled", "nominal_fraction", "miou", "miou_at_budget", "auc_at_budget"]
        + [name for name, _ in DIAGNOSTICS]
    )
    for r in records:
        for c in r.cycles:
            writer.writerow(
                [r.key, r.dataset, r.pool, r.config.pool.size, r.budget, r.ssl, r.strategy]
                + [r.method, r.seed, c.cycle, len(c.labeled), c.result.nominal_fraction]
                + [_num(c.result.miou), _num(r.miou_at_budget), _num(r.auc_at_budget)]
                + [_num(c.result.diagnostics.get(name)) for name, _ in DIAGNOSTICS]
            )
    return buffer.getvalue()


def best_csv(rows: list[Best]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    fields = list(Best.__dataclass_fields__)
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_num(getattr(row, name)) for name in fields])
    return buffer.getvalue()


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
