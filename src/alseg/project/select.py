"""``select``: train the round's model, estimate its quality, pick the images to annotate next
with the engine's acquisition step, and write the round with the model's pre-annotations."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from alseg.evaluate import evaluate
from alseg.metrics import ConfusionMatrix
from alseg.models import SegmentationModel, build_model
from alseg.neighbours import near_duplicate_radius
from alseg.project.images import ImageFolderDataset
from alseg.project.model import MODEL_FORMAT, MODEL_VERSION, RoundModel
from alseg.project.quality import EstimatePlan, plan_estimate, quality_record
from alseg.project.rounds import write_round
from alseg.project.state import Project, now
from alseg.seeds import MODEL_INIT, TRAINING, cycle_seed
from alseg.train import FitRequest, fit

#: Progress callback: (phase, done, total).
Progress = Callable[[str, int, int], None]
#: Purposes of derived seeds (``cycle_seed``) beyond the engine's: the estimate's split and the
#: fold models' initialisation and training (one pair per fold).
SPLIT, FOLD_SEEDS = 10, 20


@dataclass(frozen=True)
class RoundResult:
    """What ``select`` did: the round, its folder, the strategy used, the picks, how many
    images the round model was trained on (0: no model), its quality estimate (None: none)
    and what an interrupted command had left behind and this one removed."""

    round: int
    folder: Path
    requested: str
    strategy: str
    picks: list[Pick]
    trained_on: int
    advice: Advice | None
    note: str
    quality: dict[str, Any] | None = None
    cleaned: tuple[str, ...] = ()


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
    """Dataset indices of the labeled images, of those sent out in a round and not labeled yet
    (nor released), and of the rest (the candidates)."""
    labeled, pending = project.labeled, project.pending
    groups: tuple[list[int], list[int], list[int]] = ([], [], [])
    for index, pair in enumerate(dataset.pairs):
        stem = pair.image.stem
        groups[0 if stem in labeled else 1 if stem in pending else 2].append(index)
    labeled_indices, pending_indices, candidates = (np.asarray(g, dtype=np.int64) for g in groups)
    return labeled_indices, pending_indices, candidates


@dataclass(frozen=True)
class _Trainer:
    """Trains fresh models (ImageNet encoder) on labeled subsets of the working-size images."""

    work: SegDataset
    settings: dict[str, Any]
    train: TrainConfig
    head_dropout: float
    device: torch.device
    report: Progress

    def __call__(
        self, indices: np.ndarray, init_seed: int, train_seed: int, phase: str
    ) -> SegmentationModel:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            model = build_model(
                self.work.num_classes,
                encoder=self.settings["encoder"],
                weights="imagenet",
                head_dropout=self.head_dropout,
            )
        fit(
            FitRequest(
                model=model,
                labeled=SubsetDataset(self.work, np.sort(indices)),
                unlabeled=None,
                train=self.train,
                ssl=SSLConfig(),
                device=self.device,
                seed=train_seed,
                on_step=lambda iteration, total, loss: self.report(phase, iteration, total),
            )
        )
        return model

    def evaluate(
        self, model: SegmentationModel, indices: np.ndarray, phase: str
    ) -> ConfusionMatrix:
        subset = SubsetDataset(self.work, np.sort(indices))
        batch = max(4, 4 * int(self.settings["batch_size"]))
        return evaluate(
            model,
            subset,
            self.device,
            batch_size=batch,
            on_batch=lambda done, total: self.report(phase, done, total),
        )


def _round_model(
    project: Project,
    dataset: ImageFolderDataset,
    trainer: _Trainer,
    labeled: np.ndarray,
    round_number: int,
    estimate: bool,
) -> RoundModel:
    """Train the round's model on the labeled images (less those held out for the estimate)
    and estimate its quality (``alseg.project.quality``)."""
    seed = int(project.settings["seed"])
    plan: EstimatePlan | None = None
    if estimate:
        sequences = [dataset.meta(int(i)).sequence for i in labeled]
        rng = np.random.default_rng(cycle_seed(seed, round_number, SPLIT))
        plan = plan_estimate(sequences, rng)
    train_on = labeled
    matrices: list[ConfusionMatrix] = []
    if plan is not None and plan.method == "held-out":
        train_on = np.delete(labeled, plan.held_out[0])
    elif plan is not None:
        folds = len(plan.held_out)
        for fold, held in enumerate(plan.held_out):
            name = f"fold {fold + 1}/{folds}"
            model = trainer(
                np.delete(labeled, held),
                cycle_seed(seed, round_number, FOLD_SEEDS + 2 * fold),
                cycle_seed(seed, round_number, FOLD_SEEDS + 2 * fold + 1),
                f"{name} training",
            )
            matrices.append(trainer.evaluate(model, labeled[held], f"{name} evaluating"))
    model = trainer(
        train_on,
        cycle_seed(seed, round_number, MODEL_INIT),
        cycle_seed(seed, round_number, TRAINING),
        "training",
    )
    if plan is not None and plan.method == "held-out":
        matrices.append(trainer.evaluate(model, labeled[plan.held_out[0]], "evaluating"))
    quality = None
    if plan is not None:
        quality = quality_record(plan, matrices, dataset.class_names, len(labeled), len(train_on))
    record = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "round": round_number,
        "num_classes": dataset.num_classes,
        "classes": list(dataset.class_names),
        "encoder": project.settings["encoder"],
        "head_dropout": trainer.head_dropout,
        "working_size": project.settings["working_size"],
        "trained_on": sorted(dataset.pairs[int(i)].image.stem for i in train_on),
        "iterations": trainer.train.iterations(len(train_on)),
        "quality": quality,
    }
    return RoundModel(model, record)


def select(
    directory: Path | str,
    budget: int,
    strategy: str = "auto",
    device: str = "auto",
    epochs: float | None = None,
    *,
    min_iterations: int | None = None,
    estimate: bool = True,
    progress: Progress | None = None,
) -> RoundResult:
    """Pick ``budget`` images to annotate next and write round K's folder.

    Candidates are the unlabeled images neither sent out in an earlier round nor released
    (images sent out count as covered for batch strategies). With labeled images the round's
    model (ImageNet encoder, supervised, images at the working size, ``epochs`` x labeled /
    batch iterations, at least ``min_iterations``; defaults: the project's) is trained first and
    its quality estimated (``alseg.project.quality``; ``estimate=False`` skips that); it scores
    the pool for strategies that need a model and pre-annotates the picks. Before any label
    only strategies without a trained model are possible (random, uniform, coreset and
    typiclust on ImageNet embeddings); others raise ConfigError. ``auto`` measures the pool's
    redundancy on ImageNet embeddings and follows the paper's guide (``alseg.advise``,
    supervised) for the budget regime of the labeled fraction after this round, using coreset
    when the guide's pick needs a model that does not exist yet.

    Round folder ``rounds/round_K/``: manifest.csv and manifest.json (rank, image, path, score,
    strategy, reason; the model and its quality), ``model.pt`` and ``predictions/`` (the
    model's masks of the picks, class-id PNGs) when a model was trained, ``cvat/`` (labels.json,
    images.txt, task.json, predictions.zip, README.txt), ``label_studio/`` (tasks.json with
    predictions, config.xml, README.txt), contact_sheet.html with thumbs/. The state, written
    last, names the round; an interrupted select leaves no round behind.
    """
    with Project.updating(directory) as project:
        return _select(
            project, budget, strategy, device, epochs, min_iterations, estimate, progress
        )


def _select(
    project: Project,
    budget: int,
    strategy: str,
    device: str,
    epochs: float | None,
    min_iterations: int | None,
    estimate: bool,
    progress: Progress | None,
) -> RoundResult:
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
    train = build(
        TrainConfig,
        epochs=settings["epochs"] if epochs is None else epochs,
        min_iterations=settings["min_iterations"] if min_iterations is None else min_iterations,
        batch_size=settings["batch_size"],
    )
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

    round_model = None
    if len(labeled):
        trainer = _Trainer(work, settings, train, spec.head_dropout, torch_device, report)
        round_model = _round_model(project, dataset, trainer, labeled, round_number, estimate)
    scoring = round_model.model if round_model else None
    if needs and scoring is None and "embedding" not in results:
        scoring = imagenet_model(work.num_classes, settings["encoder"], seed)
    if needs and round_model is not None:
        results = {}  # score everything with the trained model
    sequences, positions = sequence_positions(dataset)
    selection = select_next(
        scoring if needs else None,
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

    folder = write_round(
        project, round_number, chosen, picks, advice, note, round_model, torch_device, report
    )
    trained_on = len(round_model.record["trained_on"]) if round_model else 0
    quality = round_model.record["quality"] if round_model else None
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
            "model": (folder / "model.pt").relative_to(project.directory).as_posix()
            if round_model
            else None,
            "quality": quality,
            "released": [],
            "advice": advice.to_dict() if advice else None,
            "note": note,
        }
    )
    try:
        project.save()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return RoundResult(
        round_number,
        folder,
        strategy,
        chosen,
        picks,
        trained_on,
        advice,
        note,
        quality,
        tuple(project.cleaned),
    )


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
