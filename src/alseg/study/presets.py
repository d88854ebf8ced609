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
#: The redundancy dial of the guide study: more consecutive frames per group, same pool size.
GUIDE_POOLS = ["0f", "5f", "21f"]
#: The paper's A2D2 pool lists (its repository's ``a2d2_pools``) and their line counts.
OFFICIAL_LISTS = "data/a2d2_pools"
OFFICIAL_POOL_SIZES = {
    f"pool_{x}f/lab_images_100.txt": n for x, n in ((0, 2640), (5, 2640), (11, 2640), (21, 2680))
}
SEEDS = [0, 1, 2]

SYNTH_MODEL = {"encoder": "efficientnet_lite0", "weights": "imagenet"}
#: Where the GPU presets read WRN-38's ImageNet weights (relative to the working directory, as
#: the paper's code keeps them): the file ``wider_resnet38.pth.tar``.
WRN38_WEIGHTS = "pretrained_models/wider_resnet38.pth.tar"
#: The paper's setting on GPUs: DeepLabv3+ on an ImageNet WRN-38 at output stride 8. To read the
#: weights from elsewhere, or to use another backbone (e.g. ``encoder: resnet50`` from the timm
#: hub, without ``weights_path``), set ``base.model`` in a study YAML (``alseg study FILE``).
GPU_MODEL = {
    "encoder": "wrn38",
    "weights": "imagenet",
    "weights_path": WRN38_WEIGHTS,
    "output_stride": 8,
}
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


def _synthdrive_guide() -> dict[str, Any]:
    """Does the guide hold on synthdrive? The redundancy dial (Pool-0f, 5f, 21f: 2,100 frames
    each, 100 groups of 21 consecutive frames in 21f, so Random cannot cover every group early),
    Random / Entropy / Coreset, five seeds, a high (10-10@30) and a low (2-2@6) budget, with the
    paired statistics of the report. 32x64 frames and a fixed 200 training iterations per cycle,
    so that a method's labels, not a training length growing with them, make its curve
    (docs/guide-study.md). Measured: 1 h 16 min on two CPU cores, two runs at a time
    (``--executor ray --cpus-per-run 1``)."""
    return {
        "name": "synthdrive-guide",
        "pools": [{"dataset": "synthdrive", "kind": kind, "size": 2100} for kind in GUIDE_POOLS],
        "strategies": ["random", "entropy", "coreset"],
        "budgets": ["10-10@30", "2-2@6"],
        "seeds": [0, 1, 2, 3, 4],
        "base": {
            "data": {"image_size": [32, 64]},
            "model": SYNTH_MODEL,
            "train": {"fixed_iterations": 200, "batch_size": 8},
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
    """The paper's A2D2 redundancy pools, 10-10: its official lists (put the paper's
    ``a2d2_pools`` folder at ``data/a2d2_pools``), read as its code reads them (every line, a
    repeated line a second copy: 2,640 frames, 2,680 for 21f), and a Pool-Aug of 2,640."""
    lists = [
        {"dataset": "a2d2", "root": "data/a2d2", "kind": f"list:{OFFICIAL_LISTS}/{name}", "size": n}
        for name, n in OFFICIAL_POOL_SIZES.items()
    ]
    return {
        "name": "paper-a2d2-pools",
        "pools": [*lists, {"dataset": "a2d2", "root": "data/a2d2", "kind": "aug", "size": 2640}],
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
    """A2D2-3K (Table 6): three cycles of 1,000 frames from the whole training set (~40K), with
    the video baselines: the one-shot Uniform (3,000 frames evenly in time at once; no AUC) and
    Uniform(@5)+Entropy (every 5th frame, about 8K, once; then Entropy, initial set included).

    AUC@B spans the run's budget steps (1K to 3K: 2,000/40,135 = 0.0498 of the pool), as SPEC §4
    defines it. The paper's 100% row (66.65 mIoU, AUC 6.64) implies a span of 0.0996 (about
    4,000 frames), twice alseg's: compare AUCs with Table 6 after doubling, mIoU directly."""
    return {
        "name": "a2d2-3k",
        "pools": [{"dataset": "a2d2", "root": "data/a2d2", "kind": "all", "size": None}],
        "strategies": ["random", "entropy", "coreset", "uniform-oneshot", "uniform5-entropy"],
        "ssl": ["none", "s4gan"],
        "budgets": ["1000+1000x3"],
        "seeds": SEEDS,
        "base": {"model": GPU_MODEL, "train": {**GPU_TRAIN, "crop": [256, 512]}},
    }


PRESETS: dict[str, Callable[[], dict[str, Any]]] = {
    "synthdrive-quick": _synthdrive_quick,
    "synthdrive-guide": _synthdrive_guide,
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
