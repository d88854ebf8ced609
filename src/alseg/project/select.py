"""``select``: pick the images to annotate next with the engine's acquisition step."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from alseg.acquisition.explain import explain_picks
from alseg.acquisition.registry import get_strategy, list_strategies
from alseg.acquisition.select import Selection, select_next
from alseg.advise import Advice, advise, budget_regime
from alseg.annotation import Pick
from alseg.config import SSLConfig, TrainConfig, build
from alseg.data.base import SegDataset, SubsetDataset
from alseg.devices import resolve_device
from alseg.embeddings import (
    dataset_redundancy,
    imagenet_model,
    pool_embeddings,
    resized,
    sequence_positions,
)
from alseg.errors import ConfigError, unknown_name
from alseg.models import SegmentationModel, build_model
from alseg.neighbours import near_duplicate_radius
from alseg.project.images import ImageFolderDataset
from alseg.project.rounds import write_round
from alseg.project.state import Project, now
from alseg.seeds import MODEL_INIT, TRAINING, cycle_seed
from alseg.train import FitRequest, fit

#: Progress callback: (phase, done, total).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RoundResult:
    """What ``select`` did: the round, its folder, the strategy used and the picks."""

    round: int
    folder: Path
    requested: str
    strategy: str
    picks: list[Pick]
    trained_on: int
    advice: Advice | None
    note: str


def untrained_strategies() -> list[str]:
    """Strategies that need no trained model: the only ones possible before any label."""
    return [n for n in list_strategies() if get_strategy(n).needs_for() <= {"embedding"}]


def _check_strategy(name: str, labeled: int) -> None:
    if name not in list_strategies() and ":" not in name:
        raise unknown_name("strategy", name, ["auto", *list_strategies()])
    get_strategy(name)
    allowed = untrained_strategies()
    if labeled == 0 and name not in allowed:
        raise ConfigError(
            f"strategy {name!r} needs a model trained on labeled images, but none is labeled "
            f"yet; for the first round use one of: auto, {', '.join(sorted(allowed))}"
        )


def _partition(
    project: Project, dataset: ImageFolderDataset
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dataset indices of the labeled images, of those sent out in a round and not labeled yet,
    and of the rest (the candidates)."""
    labeled, pending = project.labeled, project.pending
    groups: tuple[list[int], list[int], list[int]] = ([], [], [])
    for index, pair in enumerate(dataset.pairs):
        stem = pair.image.stem
        groups[0 if stem in labeled else 1 if stem in pending else 2].append(index)
    labeled_indices, pending_indices, candidates = (np.asarray(g, dtype=np.int64) for g in groups)
    return labeled_indices, pending_indices, candidates


def select(
    directory: Path | str,
    budget: int,
    strategy: str = "auto",
    device: str = "auto",
    epochs: float | None = None,
    *,
    progress: Progress | None = None,
) -> RoundResult:
    """Pick ``budget`` images to annotate next and write round K's folder.

    Candidates are the unlabeled images not already sent out in an earlier round (those count
    as covered for batch strategies). With labeled images a fresh model (ImageNet encoder) is
    trained on them first, supervised, images at the working size; strategies that need no
    model (random, uniform) skip that. Before any label only strategies without a trained model
    are possible (random, uniform, coreset and typiclust on ImageNet embeddings); others raise
    ConfigError. ``auto`` measures the pool's redundancy on ImageNet embeddings and follows the
    paper's guide (``alseg.advise``, supervised) for the budget regime of the labeled fraction
    after this round, using coreset when the guide's pick needs a model that does not exist yet.

    Round folder ``rounds/round_K/``: manifest.csv and manifest.json (rank, image, path, score,
    strategy, reason), ``cvat/`` (labels.json, images.txt, task.json, README.txt),
    ``label_studio/`` (tasks.json, config.xml, README.txt), contact_sheet.html with thumbs/.
    """
    project = Project.load(directory)
    report = progress or (lambda phase, done, total: None)
    dataset = project.dataset()
    n = len(dataset)
    labeled, covered, candidates = _partition(project, dataset)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ConfigError(f"budget must be a number of images >= 1, got {budget!r}")
    if budget > len(candidates):
        raise ConfigError(
            f"budget {budget} exceeds the {len(candidates)} images left to pick "
            f"({len(labeled)} labeled, {len(covered)} sent out in earlier rounds, of {n})"
        )
    if strategy != "auto":
        _check_strategy(strategy, len(labeled))
    settings = project.settings
    round_number = len(project.rounds) + 1
    seed = int(settings["seed"])
    working = settings["working_size"]
    work = resized(dataset, (working[0], working[1]) if working else None)
    torch_device = resolve_device(device)
    batch = max(4, 4 * int(settings["batch_size"]))
    results: dict[str, np.ndarray] = {}

    advice, note, chosen = None, "", strategy
    if strategy == "auto":
        results["embedding"] = pool_embeddings(
            work,
            device=torch_device,
            batch_size=batch,
            encoder=settings["encoder"],
            seed=seed,
            on_batch=lambda done, total: report("embedding", done, total),
        )
        redundancy = dataset_redundancy(
            work, results["embedding"], near_duplicate_fraction=settings["near_duplicate_fraction"]
        )
        advice = advise(redundancy, budget_regime(len(labeled) + len(covered) + budget, n), False)
        chosen = advice.recommendation.strategy
        if len(labeled) == 0 and chosen not in untrained_strategies():
            note = (
                f"the guide recommends {chosen}, which needs a trained model; no image is "
                "labeled yet, so this round uses coreset on ImageNet embeddings"
            )
            chosen = "coreset"
    spec = get_strategy(chosen)
    needs = spec.needs_for()

    trained_on = len(labeled) if needs else 0
    model = None
    if needs and (trained_on or "embedding" not in results):
        model = _scoring_model(
            project, work, labeled, spec.head_dropout, epochs, round_number, torch_device, report
        )
        results = {}  # score everything with the trained model
        report("scoring", 0, n)
    sequences, positions = sequence_positions(dataset)
    selection = select_next(
        model,
        work,
        np.concatenate([labeled, covered]),
        budget,
        spec,
        seed=seed,
        cycle=round_number,
        candidates=candidates,
        extra_needs=frozenset({"embedding"}) if needs else frozenset(),
        results=results,
        sequences=sequences,
        frames=np.asarray(positions, dtype=np.int64),
        device=torch_device,
        batch_size=batch,
        on_batch=lambda done, total: report("scoring", done, total),
    )
    picks = _picks(selection, dataset, seed, settings["near_duplicate_fraction"])

    folder = write_round(project, round_number, chosen, picks, advice, note)
    project.rounds.append(
        {
            "round": round_number,
            "folder": folder.relative_to(project.directory).as_posix(),
            "created": now(),
            "requested": strategy,
            "strategy": chosen,
            "budget": budget,
            "images": [p.image for p in picks],
            "labeled_before": len(labeled),
            "pool_size": n,
            "trained_on": trained_on,
            "advice": advice.to_dict() if advice else None,
            "note": note,
        }
    )
    try:
        project.save()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return RoundResult(round_number, folder, strategy, chosen, picks, trained_on, advice, note)


def _scoring_model(
    project: Project,
    work: SegDataset,
    labeled: np.ndarray,
    head_dropout: float,
    epochs: float | None,
    round_number: int,
    device: torch.device,
    report: Progress,
) -> SegmentationModel:
    """A model trained on the labeled images, or the ImageNet-only model when none is labeled."""
    settings = project.settings
    seed = int(settings["seed"])
    if len(labeled) == 0:
        return imagenet_model(work.num_classes, settings["encoder"], seed)
    train = build(
        TrainConfig,
        epochs=settings["epochs"] if epochs is None else epochs,
        min_iterations=settings["min_iterations"],
        batch_size=settings["batch_size"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cycle_seed(seed, round_number, MODEL_INIT))
        model = build_model(
            work.num_classes,
            encoder=settings["encoder"],
            weights="imagenet",
            head_dropout=head_dropout,
        )
    fit(
        FitRequest(
            model=model,
            labeled=SubsetDataset(work, np.sort(labeled)),
            unlabeled=None,
            train=train,
            ssl=SSLConfig(),
            device=device,
            seed=cycle_seed(seed, round_number, TRAINING),
            on_step=lambda iteration, total, loss: report("training", iteration, total),
        )
    )
    return model


def _picks(
    selection: Selection, dataset: ImageFolderDataset, seed: int, fraction: float
) -> list[Pick]:
    """Every pick with its score and reason (near-duplicates of earlier picks marked)."""
    view = selection.view
    radius = None
    if "embedding" in view.results:
        radius = near_duplicate_radius(view.embeddings, seed, fraction)
    explanations = explain_picks(
        selection.strategy, view, selection.picks, selection.options, radius
    )
    picks = []
    for rank, (index, (score, reason)) in enumerate(
        zip(selection.picks.tolist(), explanations, strict=True), start=1
    ):
        pair = dataset.pairs[index]
        picks.append(Pick(rank, pair.image.name, str(pair.image.resolve()), score, reason))
    return picks
