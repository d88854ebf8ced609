"""t-SNE of the pool's embeddings with each strategy's first acquisition, like the paper's Fig. 2.

Every strategy with the same initial set acquires from the same shared cycle-0 model, so their
picks can be drawn on one map: one panel per strategy, the pool in grey, the initial labeled set
in black, the strategy's picks in colour. Needs openTSNE (``pip install 'alseg[tsne]'``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alseg.io import path_inside
from alseg.report.curves import safe_name, save_figure
from alseg.report.records import RunRecord
from alseg.study.store import SharedRow, Store
from alseg.study.worker import shared_key

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Pool images drawn besides the labeled ones and the picks (a seeded sample beyond this).
MAX_BACKGROUND = 3000
MAX_PERPLEXITY = 30.0


def tsne_figures(store: Store, records: list[RunRecord], out_dir: Path) -> tuple[list[Path], str]:
    """Figures for the first seed of every shared cycle 0 with stored embeddings; also returns
    why figures were skipped ("" when none was)."""
    try:
        from openTSNE import TSNE
    except ImportError:
        return [], "openTSNE is not installed (pip install 'alseg[tsne]'): no t-SNE figures"
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        if not record.is_reference and record.cycles[0].acquired:
            groups.setdefault(str(shared_key(record.config)), []).append(record)
    first_seed = min((r.seed for members in groups.values() for r in members), default=0)
    written: list[Path] = []
    missing: list[str] = []
    for key, members in groups.items():
        if members[0].seed != first_seed:
            continue
        row = store.shared(key)
        path = None if row is None or row.embeddings is None else _embeddings_path(store, row)
        if path is None or not path.is_file():
            missing.append(f"{key}: no stored embeddings")
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                embeddings = data["embeddings"].astype(np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            missing.append(f"{path} is damaged ({type(error).__name__})")
            continue
        points = _points(len(embeddings), row.labeled, [m.cycles[0].acquired for m in members])
        perplexity = max(2.0, min(MAX_PERPLEXITY, (len(points) - 1) / 3))
        tsne = TSNE(perplexity=perplexity, n_jobs=1, random_state=0, verbose=False)
        coords = np.asarray(tsne.fit(embeddings[points]))
        first = members[0]
        title = f"{first.dataset} {first.pool}, {first.budget}, SSL {first.ssl}, seed {first.seed}"
        figure = _figure(coords, points, row.labeled, members, title)
        strategies = "+".join(m.strategy for m in members)
        stem = safe_name("tsne", first.dataset, first.pool, first.budget, first.ssl, strategies)
        written += save_figure(figure, out_dir, f"{stem}-s{first.seed}")
    reason = "no t-SNE for " + "; ".join(missing) if missing else ""
    return written, reason


def _embeddings_path(store: Store, row: SharedRow) -> Path | None:
    """The row's embeddings file, if its stored path stays inside the study folder."""
    return path_inside(store.directory, str(row.embeddings))


def _points(n: int, labeled: list[int], picks: list[list[int]]) -> np.ndarray:
    """Pool indices to embed: the labeled set, every pick and a seeded sample of the rest."""
    chosen = set(labeled).union(*map(set, picks))
    rest = np.setdiff1d(np.arange(n), np.fromiter(chosen, dtype=np.int64, count=len(chosen)))
    if len(rest) > MAX_BACKGROUND:
        rest = np.sort(np.random.default_rng(0).choice(rest, MAX_BACKGROUND, replace=False))
    return np.concatenate([np.asarray(sorted(chosen), dtype=np.int64), rest])


def _figure(
    coords: np.ndarray,
    points: np.ndarray,
    labeled: list[int],
    members: list[RunRecord],
    title: str,
) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    position = {int(p): i for i, p in enumerate(points)}
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(
        1, len(members), figsize=(3.6 * len(members), 3.8), dpi=120, squeeze=False
    )
    initial = [position[i] for i in labeled]
    for panel, (ax, member) in enumerate(zip(axes[0], members, strict=True)):
        picks = [position[i] for i in member.cycles[0].acquired]
        ax.scatter(coords[:, 0], coords[:, 1], s=4, color="lightgrey", label="unlabeled")
        ax.scatter(*coords[initial].T, s=10, color="black", label="initial labeled")
        color = colors[panel % len(colors)]
        ax.scatter(*coords[picks].T, s=16, color=color, label=f"acquired ({len(picks)})")
        ax.set_title(member.method, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=6, loc="best")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
