"""The record of one active-learning cycle: the schema ``alseg run`` writes and a study stores."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Evaluation(BaseModel):
    """What training and validating one model measured."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    miou: float
    per_class_iou: dict[str, float | None]
    train_seconds: float
    eval_seconds: float
    train_loss: float


class CycleResult(Evaluation):
    """One finished cycle: the labeled set it trained on, its evaluation and its acquisition.

    ``added`` joined the labeled set before this cycle's training (cycle 0: the initial set);
    ``acquired`` are this cycle's picks for the next one (none in the last cycle), described by
    ``diagnostics``. This is also the schema a study stores per cycle.
    """

    cycle: int
    labeled: int
    fraction: float  # labeled / pool size
    nominal_fraction: float  # the budget step (I + c*S) / 100, used for AUC
    added: list[int]
    added_ids: list[str]  # "sequence/frame" of the added images
    acquired: list[int]
    score_seconds: float
    diagnostics: dict[str, float | int | None]
