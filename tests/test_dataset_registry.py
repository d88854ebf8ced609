"""The dataset registry: datasets from outside alseg, by decorator or by import path."""

from __future__ import annotations

from pathlib import Path

import pytest

from alseg.data import create_dataset, list_datasets, register_dataset, registry
from alseg.errors import ConfigError
from tests.fakes import BlobDataset

BUILT_INS = ["synthdrive", "cityscapes", "pascal_voc", "a2d2", "camvid", "folder"]


def create_tiny(split: str, root: Path | None = None, frames: int = 2) -> BlobDataset:
    """A dataset alseg does not ship."""
    return BlobDataset(sequences=1, frames=frames, seed=0 if split == "train" else 1)


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Registrations of one test do not outlive it."""
    monkeypatch.setattr(registry, "_REGISTERED", dict(registry._REGISTERED))
    monkeypatch.setattr(registry, "_NEEDS_ROOT", set(registry._NEEDS_ROOT))


def test_a_dataset_registered_by_decorator_is_created_by_name(tmp_path) -> None:
    @register_dataset("tiny")
    def create(split: str, root: Path | None = None, frames: int = 2) -> BlobDataset:
        return create_tiny(split, root, frames)

    assert create is not None and list_datasets() == [*BUILT_INS, "tiny"]
    assert len(create_dataset("tiny", "train", frames=4)) == 4
    with pytest.raises(ConfigError, match="dataset 'tiny': .*unexpected keyword .*'size'"):
        create_dataset("tiny", "train", size=3)

    register_dataset("rooted", needs_root=True)(create_tiny)
    with pytest.raises(ConfigError, match="dataset 'rooted' needs --data-root"):
        create_dataset("rooted", "val")
    assert len(create_dataset("rooted", "val", root=tmp_path)) == 2


def test_a_dataset_named_by_import_path_is_created() -> None:
    dataset = create_dataset("tests.test_dataset_registry:create_tiny", "val", frames=3)
    assert isinstance(dataset, BlobDataset) and len(dataset) == 3 and dataset.seed == 1
    assert "tests.test_dataset_registry:create_tiny" not in list_datasets()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("imagenet", r"unknown dataset 'imagenet'; allowed: <module>:<factory>, a2d2, camvid"),
        ("tests.nowhere:create", r"dataset 'tests.nowhere:create': cannot import 'tests.nowhere'"),
        ("tests.fakes:create", r"tests.fakes has no 'create' \(a function of split"),
    ],
)
def test_unknown_datasets_are_config_errors_naming_the_allowed_ones(name, message) -> None:
    with pytest.raises(ConfigError, match=message):
        create_dataset(name, "train")


def test_registered_names_may_not_look_like_import_paths() -> None:
    with pytest.raises(ValueError, match="contains ':'"):
        register_dataset("my:data")
