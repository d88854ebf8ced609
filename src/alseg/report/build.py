"""``alseg report``: Markdown, HTML and CSV tables plus figures from a study's store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alseg.errors import DataError
from alseg.io import atomic_write_bytes, writable_folder
from alseg.report import tables
from alseg.report.against_random import against_random_tables
from alseg.report.curves import budget_curves
from alseg.report.guide import guide_cells, guide_csv, guide_table
from alseg.report.html import html_document
from alseg.report.ranking import marked, rank_blocks, ranking_csv, ranking_tables
from alseg.report.records import MiouAt, budget_ms, load_records
from alseg.report.tables import Section
from alseg.report.tsne import tsne_figures
from alseg.study.store import DB_NAME, Store

REPORT_DIR = "report"


@dataclass
class Report:
    """What ``write_report`` wrote, and the notes on what it skipped."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    result_tables: list[tables.TableData] = field(default_factory=list)
    ranking_tables: list[tables.TableData] = field(default_factory=list)


def write_report(
    study_dir: str | Path, out_dir: str | Path | None = None, miou_at: MiouAt = None
) -> Report:
    """Write the report of the finished runs in ``study_dir`` (default: ``study_dir/report``).

    ``miou_at`` is M of mIoU@M: a budget step for every budget, or one per budget text (e.g.
    ``{"10-10@50": 30, "2-2@10": 6}``); default I + 2S, the paper's pairing with AUC@B.
    """
    study_dir = Path(study_dir)
    if not Store.exists(study_dir):
        raise DataError(f"{study_dir} holds no study results ({DB_NAME}); run `alseg study` first")
    store = Store(study_dir, read_only=True)
    records = load_records(store)
    if not records:
        raise DataError(f"{study_dir / DB_NAME} holds no finished run yet")
    ms = budget_ms(records, miou_at)
    report = Report(Path(out_dir) if out_dir is not None else study_dir / REPORT_DIR)
    writable_folder(report.out_dir, "report folder")  # before the t-SNE and figures
    summaries = tables.summarize(records, ms)
    rankings = rank_blocks(summaries)
    summaries = marked(summaries, rankings)
    report.result_tables = tables.result_tables(summaries)
    report.ranking_tables = ranking_tables(summaries, rankings)
    cells = guide_cells(summaries, records)
    curves = budget_curves(records, report.out_dir / "curves")
    tsne, reason = tsne_figures(store, records, report.out_dir / "tsne")
    if reason:
        report.notes.append(reason)
    sections = [
        Section("Results", tables=report.result_tables),
        Section("Ranking with paired statistics", tables=report.ranking_tables),
        Section("Best method per scenario", tables=[guide_table(cells)] if cells else []),
        Section("Selection diagnostics", tables=tables.diagnostics_tables(summaries)),
        Section(
            "Against Random: per-class gains and saturation", tables=against_random_tables(records)
        ),
        Section("Budget curves", figures=_relative(curves, report.out_dir, ".png")),
        Section(
            "t-SNE of the first acquisition",
            text=reason
            or "Pool embeddings under the shared cycle-0 model, one panel per strategy.",
            figures=_relative(tsne, report.out_dir, ".png"),
        ),
    ]
    study = store.meta("study") or {}
    title = f"alseg study {study.get('name', study_dir.name)}: {len(records)} finished runs"
    outputs = {
        "report.md": tables.markdown_document(title, sections),
        "report.html": html_document(title, sections),
        "summary.csv": tables.summary_csv(summaries),
        "ranking.csv": ranking_csv(summaries, rankings),
        "runs.csv": tables.runs_csv(records, ms),
        "best.csv": guide_csv(cells),
    }
    for name, text in outputs.items():
        atomic_write_bytes(report.out_dir / name, text.encode())
        report.files.append(report.out_dir / name)
    report.files += curves + tsne
    return report


def _relative(paths: list[Path], root: Path, suffix: str) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths if path.suffix == suffix]
