"""A plain ``nn.Module`` wrapped as an alseg model: scored by select_next, trained by the engine."""

import numpy as np
import pytest
import torch
from torch import nn

from alseg.acquisition.select import select_next
from alseg.config import BudgetConfig, ExperimentConfig, TrainConfig
from alseg.errors import ConfigError
from alseg.loop import LoopHooks, Setup, run_loop
from alseg.models import PlainSegmentationModel, SegmentationModel
from tests.fakes import BlobDataset


def tiny_network() -> PlainSegmentationModel:
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    network = nn.Sequential(features, nn.Conv2d(8, 3, 1))
    return PlainSegmentationModel(network, 3, backbone=features, embedding_layer=features)


def test_the_wrapper_follows_the_protocol():
    model = tiny_network()
    assert isinstance(model, SegmentationModel)
    output = model.forward_output(torch.rand(2, 3, 32, 32))
    assert output.logits.shape == (2, 3, 32, 32)
    assert model.embedding(output).shape == (2, 8 * 4)  # the embedding layer, pooled 2x2
    assert len(model.backbone_parameters()) == 2 and len(model.head_parameters()) == 2
    with pytest.raises(ConfigError, match="MC dropout"):
        model.mc_dropout_masks(3, torch.Generator())


@pytest.mark.parametrize("strategy", ["entropy", "coreset", "equal"])
def test_select_next_scores_a_plain_model(strategy):
    torch.manual_seed(0)
    model, pool, labeled = tiny_network(), BlobDataset(4, 5), np.array([0, 7, 13])
    selection = select_next(model, pool, labeled, 5, strategy, seed=1)
    picks = selection.picks
    assert len(set(picks.tolist())) == 5 and not np.isin(picks, labeled).any()
    (need,) = selection.strategy.needs_for() - {"embedding"} or {"embedding"}
    assert selection.view.results[need].shape[0] == len(pool)
    again = select_next(model, pool, labeled, 5, strategy, seed=1)
    assert np.array_equal(again.picks, picks)


def test_bald_needs_mc_dropout():
    with pytest.raises(ConfigError, match="MC dropout"):
        select_next(tiny_network(), BlobDataset(2, 5), np.array([0]), 2, "bald")


class PlainHooks(LoopHooks):
    def new_model(self, setup: Setup) -> SegmentationModel:
        return tiny_network()


def test_the_engine_trains_and_scores_a_plain_model():
    config = ExperimentConfig(
        strategy="coreset",
        train=TrainConfig(epochs=1, min_iterations=5, batch_size=4, channels_last=False),
        budget=BudgetConfig(initial=20, step=20, until=40),
    )
    setup = Setup(config, BlobDataset(4, 5), BlobDataset(2, 3, seed=9), torch.device("cpu"))
    results = list(run_loop(setup, PlainHooks()))
    assert [r.labeled for r in results] == [4, 8]
    assert len(results[0].acquired) == 4 and results[0].diagnostics["picks"] == 4
    assert all(np.isfinite(r.train_loss) for r in results)
