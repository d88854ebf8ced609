"""The trainer registry: trainers from outside alseg, by decorator or import path, run by fit."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import pytest
import torch
from pydantic import Field

from alseg.config import SSLConfig, TrainConfig
from alseg.errors import ConfigError
from alseg.train import (
    FitRequest,
    FitResult,
    Trainer,
    fit,
    get_trainer,
    list_trainers,
    register_trainer,
    registry,
)
from alseg.train.ssl.params import Params, S4GANParams
from tests.fakes import BlobDataset

LABELED = BlobDataset(sequences=1, frames=3)
UNLABELED = BlobDataset(sequences=1, frames=2, seed=5)


class ToyParams(Params):
    method: ClassVar[str] = "toy"

    rate: float = Field(0.5, ge=0.0, le=1.0)


def fit_plain(request: FitRequest) -> FitResult:
    """A trainer alseg does not ship: reports what it was given."""
    unlabeled = 0 if request.unlabeled is None else len(request.unlabeled)
    losses = {"labeled": float(len(request.labeled)), "unlabeled": float(unlabeled)}
    return FitResult(request.seed, 0.0, 0.0, losses)


#: A trainer described without registering it, for the import-path test.
TOY = Trainer("toy", fit_plain, semi_supervised=True, options=ToyParams)


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Registrations of one test do not outlive it."""
    monkeypatch.setattr(registry, "_TRAINERS", dict(registry._TRAINERS))


def request(
    method: str, unlabeled: BlobDataset | None = UNLABELED, **options: object
) -> FitRequest:
    ssl = SSLConfig.model_construct(method=method, options=options)  # any registered name
    cpu = torch.device("cpu")
    return FitRequest(torch.nn.Identity(), LABELED, unlabeled, TrainConfig(), ssl, cpu, 7)


def test_a_trainer_registered_by_decorator_runs_through_fit() -> None:
    @register_trainer("toy", semi_supervised=True, options=ToyParams)
    def fit_toy(req: FitRequest) -> FitResult:
        return fit_plain(req)

    assert isinstance(fit_toy, Trainer) and get_trainer("toy") is fit_toy
    assert list_trainers() == ["none", "s4gan", "unimatch", "u2pl", "toy"]
    result = fit(request("toy", rate=0.2))
    assert result == FitResult(7, 0.0, 0.0, {"labeled": 3.0, "unlabeled": 2.0})


def test_semi_supervised_trainers_fall_back_to_supervised_after_checking_options() -> None:
    register_trainer("toy", semi_supervised=True, options=ToyParams)(fit_plain)
    supervised_runs: list[FitRequest] = []

    @register_trainer("none")
    def fit_supervised(req: FitRequest) -> FitResult:
        supervised_runs.append(req)
        return fit_plain(req)

    empty = BlobDataset(sequences=0, frames=1)
    with pytest.raises(ConfigError, match=r"toy option rate = 2"):
        fit(request("toy", unlabeled=empty, rate=2))
    assert supervised_runs == []
    fit(request("toy", unlabeled=None))
    fit(request("toy", unlabeled=empty))
    assert len(supervised_runs) == 2


def test_a_trainer_named_by_import_path_runs_through_fit() -> None:
    path = "tests.test_trainer_registry:fit_plain"
    trainer = get_trainer(path)
    assert (trainer.name, trainer.semi_supervised, trainer.options) == (path, False, None)
    assert fit(request(path, unlabeled=None)).losses == {"labeled": 3.0, "unlabeled": 0.0}
    assert path not in list_trainers()


def test_an_import_path_to_a_trainer_keeps_its_description() -> None:
    assert get_trainer("tests.test_trainer_registry:TOY") is TOY
    with pytest.raises(ConfigError, match="unknown toy option 'speed'"):
        fit(request("tests.test_trainer_registry:TOY", speed=1))


def test_built_in_trainers_load_on_first_use() -> None:
    code = "import sys, alseg.train; print('torch' in sys.modules, alseg.train.list_trainers())"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert output.stdout.split(" ", 1) == ["False", "['none', 's4gan', 'unimatch', 'u2pl']\n"]
    s4gan = get_trainer("s4gan")
    assert (s4gan.name, s4gan.semi_supervised, s4gan.options) == ("s4gan", True, S4GANParams)
    assert not get_trainer("none").semi_supervised


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fixmatch", r"unknown SSL method 'fixmatch'; allowed: <module>:<function>, none, s4gan"),
        ("tests.nowhere:fit", r"trainer 'tests.nowhere:fit': cannot import 'tests.nowhere'"),
        ("tests.fakes:fit", r"tests.fakes has no 'fit' \(a function of a FitRequest"),
        ("tests.test_trainer_registry:LABELED", r"has no 'LABELED'"),
    ],
)
def test_unknown_trainers_are_config_errors_naming_the_allowed_ones(name, message) -> None:
    with pytest.raises(ConfigError, match=message):
        fit(request(name))


def test_registered_names_may_not_look_like_import_paths() -> None:
    with pytest.raises(ValueError, match="contains ':'"):
        register_trainer("my:toy")
