"""bfloat16 autocast on CPU: an option that leaves float32 runs (and their keys) as they were."""

from __future__ import annotations

import pytest
import torch

from alseg.config import ExperimentConfig, TrainConfig, build
from alseg.devices import autocast, cpu_bf16
from alseg.errors import ConfigError
from alseg.loop import run_loop
from alseg.train import supervised
from tests.test_loop import tiny_setup

CPU = torch.device("cpu")


def test_inference_autocast_is_bf16_only_inside_the_block():
    layer = torch.nn.Linear(4, 4)
    x = torch.ones(2, 4)
    with autocast(CPU):
        assert layer(x).dtype == torch.float32
    with cpu_bf16(True), autocast(CPU):
        assert layer(x).dtype == torch.bfloat16
    with cpu_bf16(False), autocast(CPU):
        assert layer(x).dtype == torch.float32


def test_the_option_keeps_float32_keys_and_changes_bf16_ones():
    plain = ExperimentConfig()
    assert "cpu_bf16" not in plain.model_dump()["train"]
    bf16 = ExperimentConfig(train=TrainConfig(cpu_bf16=True))
    assert bf16.model_dump()["train"]["cpu_bf16"] is True
    assert bf16.key() != plain.key()
    assert ExperimentConfig(train=TrainConfig(cpu_bf16=False)).key() == plain.key()


def test_bf16_is_for_supervised_training():
    with pytest.raises(ConfigError, match="cpu_bf16 applies to supervised training"):
        build(ExperimentConfig, train={"cpu_bf16": True}, ssl={"method": "s4gan"})


def test_a_bf16_cycle_trains_and_evaluates_to_a_finite_miou(monkeypatch):
    seen = set()
    loss = supervised.labeled_loss

    def recording_loss(logits, masks):
        seen.add(logits.dtype)
        return loss(logits, masks)

    monkeypatch.setattr(supervised, "labeled_loss", recording_loss)
    setup = tiny_setup("entropy")
    config = setup.config.model_copy(
        update={"train": setup.config.train.model_copy(update={"cpu_bf16": True})}
    )
    results = list(run_loop(type(setup)(config, setup.pool, setup.val, setup.device)))
    assert len(results) == 3 and all(0 <= r.miou <= 100 for r in results)
    assert len(results[0].acquired) == len(results[1].added)
    assert seen == {torch.bfloat16}
