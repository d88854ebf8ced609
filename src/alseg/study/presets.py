"""Named studies: a quick CPU check, the paper's grid on synthdrive, and the paper's real-data
studies (these need the data on disk and a GPU; ``--dry-run`` validates and lists them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alseg.config import build
from alseg.errors import unknown_name
from alseg.study.config import StudyConfig

PAPER_STRATEGIES = ["random", "entropy", "equal", "bald", "coreset"]
REDUNDANCY_POOLS = ["0f", "5f", "11f", "21f", "aug"]
SEEDS = [0, 1, 2]

SYNTH_MODEL = {"encoder": "efficientnet_lite0", "weights": "imagenet"}
#: The paper's setting on GPUs: an ImageNet ResNet-50 (downloaded once from the timm hub) at
#: output stride 8 standing in for WRN-38.
GPU_MODEL = {"encoder": "resnet50", "weights": "imagenet", "output_stride": 8}
#: The paper's recipe (SPEC §3): 100 epochs, SGD lr 1e-3 backbone / 1e-2 head, batch 8.
GPU_TRAIN = {
    "epochs": 100,
    "min_iterations": 0,
    "batch_size": 8,
    "lr_backbone": 1e-3,
    "lr_head": 1e-2,
    "workers": 4,
}


def _synthdrive_quick() -> dict[str, Any]:
    """A few minutes on two CPU cores: three strategies on one redundant pool, one seed."""
    return {
        "name": "synthdrive-quick",
        "pools": [{"dataset": "synthdrive", "kind": "11f", "size": 240}],
        "strategies": ["random", "entropy", "coreset"],
        "budgets": ["10-10@30"],
        "seeds": [0],
        "base": {
            "data": {"image_size": [64, 128]},
            "model": SYNTH_MODEL,
            "train": {"epochs": 6, "min_iterations": 50, "batch_size": 8},
        },
    }


def _synthdrive_paper() -> dict[str, Any]:
    """Table 3's grid on synthdrive: five strategies, with and without s4GAN, on the five
    redundancy pools, low and high budget, three seeds (large: days on a CPU)."""
    return {
        "name": "synthdrive-paper",
        "pools": [
            {"dataset": "synthdrive", "kind": kind, "size": 2100} for kind in REDUNDANCY_POOLS
        ],
        "strategies": PAPER_STRATEGIES,
        "ssl": ["none", "s4gan"],
        "budgets": ["10-10@50", "2-2@10"],
        "seeds": SEEDS,
        "base": {
            "data": {"image_size": [64, 128]},
            "model": SYNTH_MODEL,
            "train": {"epochs": 15, "min_iterations": 200, "batch_size": 8},
        },
    }


def _paper_a2d2_pools() -> dict[str, Any]:
    """The paper's A2D2 redundancy pools (2,640 frames each), 10-10."""
    return {
        "name": "paper-a2d2-pools",
        "pools": [
            {"dataset": "a2d2", "root": "data/a2d2", "kind": kind, "size": 2640}
            for kind in REDUNDANCY_POOLS
        ],
        "strategies": PAPER_STRATEGIES,
        "ssl": ["none", "s4gan"],
        "budgets": ["10-10@50"],
        "seeds": SEEDS,
        "base": {"model": GPU_MODEL, "train": {**GPU_TRAIN, "crop": [256, 512]}},
    }


def _paper_voc() -> dict[str, Any]:
    """PASCAL-VOC (augmented train set, a diverse pool), low and high budget."""
    return {
        "name": "paper-voc",
        "pools": [
            {"dataset": "pascal_voc", "root": "data/pascal_voc", "kind": "all", "size": None}
        ],
        "strategies": PAPER_STRATEGIES,
        "ssl": ["none", "s4gan"],
        "budgets": ["2-2@10", "10-10@50"],
        "seeds": SEEDS,
        "base": {"model": GPU_MODEL, "train": {**GPU_TRAIN, "crop": [321, 321]}},
    }


def _paper_cityscapes() -> dict[str, Any]:
    """Cityscapes (a diverse pool of curated frames), low and high budget."""
    return {
        "name": "paper-cityscapes",
        "pools": [
            {"dataset": "cityscapes", "root": "data/cityscapes", "kind": "all", "size": None}
        ],
        "strategies": PAPER_STRATEGIES,
        "ssl": ["none", "s4gan"],
        "budgets": ["2-2@10", "10-10@50"],
        "seeds": SEEDS,
        "base": {"model": GPU_MODEL, "train": {**GPU_TRAIN, "crop": [256, 512]}},
    }


def _a2d2_3k() -> dict[str, Any]:
    """A2D2-3K: three cycles of 1,000 frames from the whole training set (~40K)."""
    return {
        "name": "a2d2-3k",
        "pools": [{"dataset": "a2d2", "root": "data/a2d2", "kind": "all", "size": None}],
        "strategies": ["random", "entropy", "coreset"],
        "ssl": ["none", "s4gan"],
        "budgets": ["1000+1000x3"],
        "seeds": SEEDS,
        "base": {"model": GPU_MODEL, "train": {**GPU_TRAIN, "crop": [256, 512]}},
    }


PRESETS: dict[str, Callable[[], dict[str, Any]]] = {
    "synthdrive-quick": _synthdrive_quick,
    "synthdrive-paper": _synthdrive_paper,
    "paper-a2d2-pools": _paper_a2d2_pools,
    "paper-voc": _paper_voc,
    "paper-cityscapes": _paper_cityscapes,
    "a2d2-3k": _a2d2_3k,
}


def preset(name: str) -> StudyConfig:
    """The named study."""
    if name not in PRESETS:
        raise unknown_name("study preset", name, list(PRESETS))
    return build(StudyConfig, **PRESETS[name]())
