"""Scorers: what the streamed inference pass can compute per image, keyed by need.

A need is ``name`` or ``name:argument``: ``entropy``, ``entropy:minmax``, ``equal``,
``equal:consistency``, ``mc:20`` (BALD mutual information over 20 MC-dropout passes) and
``embedding``. A strategy lists its needs; the pass runs each need's scorer on every batch and
keeps one number (or one embedding) per image. Register a scorer of your own with
``@register_scorer("name", title="...")`` on a function ``(batch, argument) -> Tensor``
of shape (B,) or (B, D).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch

from alseg.acquisition import scores
from alseg.errors import unknown_name
from alseg.models.protocol import ModelOutput, SegmentationModel


class PassState:
    """What every batch of one inference pass shares: the model and the pass's seeded MC masks."""

    def __init__(self, model: SegmentationModel, seed: int, device: torch.device) -> None:
        self.model, self.seed, self.device = model, seed, device
        self._mc_masks: dict[int, torch.Tensor] = {}

    def mc_masks(self, passes: int) -> torch.Tensor:
        """The same ``passes`` dropout masks for every image of the pass (seeded)."""
        if passes not in self._mc_masks:
            generator = torch.Generator().manual_seed(self.seed)
            masks = self.model.mc_dropout_masks(passes, generator)
            self._mc_masks[passes] = masks.to(self.device)
        return self._mc_masks[passes]


class InferenceBatch:
    """One batch of images; the forward pieces scorers share are computed once, when first used."""

    def __init__(self, state: PassState, images: torch.Tensor) -> None:
        self.state, self.images = state, images
        self.model = state.model
        self.size: tuple[int, int] = tuple(images.shape[-2:])  # type: ignore[assignment]

    @cached_property
    def features(self) -> object:
        return self.model.encode(self.images)

    @cached_property
    def output(self) -> ModelOutput:
        return self.model.decode(self.features, self.size)

    @cached_property
    def logits(self) -> torch.Tensor:
        return self.output.logits.float()

    @cached_property
    def flipped_logits(self) -> torch.Tensor:
        """Logits of the horizontally flipped images (not flipped back)."""
        flipped = self.images.flip(-1)
        return self.model.decode(self.model.encode(flipped), self.size).logits.float()


ScoreFunction = Callable[[InferenceBatch, str | None], torch.Tensor]


@dataclass(frozen=True)
class Scorer:
    name: str
    title: str
    compute: ScoreFunction
    arguments: tuple[str, ...] | None = ()  # allowed arguments; None = any positive integer

    def check(self, argument: str | None) -> None:
        if argument is None:
            return
        if self.arguments is None:
            if not argument.isdigit() or int(argument) < 1:
                raise ValueError(
                    f"need {self.name}:{argument}: the argument must be an integer >= 1"
                )
        elif argument not in self.arguments:
            raise ValueError(
                f"need {self.name}:{argument}: unknown argument; allowed: "
                f"{', '.join(self.arguments) or 'none'}"
            )


_SCORERS: dict[str, Scorer] = {}


def register_scorer(
    name: str, title: str, arguments: tuple[str, ...] | None = ()
) -> Callable[[ScoreFunction], ScoreFunction]:
    """Decorator: make ``name`` (and ``name:argument``) a need the inference pass can compute."""

    def decorate(function: ScoreFunction) -> ScoreFunction:
        _SCORERS[name] = Scorer(name, title, function, arguments)
        return function

    return decorate


def split_need(need: str) -> tuple[Scorer, str | None]:
    """The scorer of ``need`` and its argument; ValueError for an unknown or malformed need."""
    name, _, argument = need.partition(":")
    if name not in _SCORERS:
        raise ValueError(str(unknown_name("inference need", need, list_scorers())))
    scorer = _SCORERS[name]
    scorer.check(argument or None)
    return scorer, argument or None


def list_scorers() -> list[str]:
    return sorted(_SCORERS)


def need_title(need: str) -> str:
    """What a need measures, in words (for manifests and reports)."""
    scorer, argument = split_need(need)
    return scorer.title if argument is None else f"{scorer.title} ({argument})"


@register_scorer("entropy", "mean pixel entropy", arguments=("minmax",))
def _entropy(batch: InferenceBatch, argument: str | None) -> torch.Tensor:
    return scores.entropy(batch.logits, normalize=argument or "none")


@register_scorer("equal", "entropy of the image plus its flip", arguments=("consistency",))
def _equal(batch: InferenceBatch, argument: str | None) -> torch.Tensor:
    variant = argument or "entropy"
    return scores.equal(batch.logits, batch.flipped_logits, variant=variant)


@register_scorer("mc", "BALD mutual information over MC-dropout passes", arguments=None)
def _bald(batch: InferenceBatch, argument: str | None) -> torch.Tensor:
    accumulator = scores.BaldAccumulator()
    for mask in batch.state.mc_masks(int(argument or 20)):
        output = batch.model.decode(batch.features, batch.size, dropout_mask=mask)
        accumulator.add(output.logits.float())
    return accumulator.scores()


@register_scorer("embedding", "pooled feature embedding")
def _embedding(batch: InferenceBatch, argument: str | None) -> torch.Tensor:
    return batch.model.embedding(batch.output).float()
