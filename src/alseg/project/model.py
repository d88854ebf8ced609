"""The model a round trained: saved with what rebuilds it, loaded back, and used to predict.

``rounds/round_K/model.pt`` is a plain dictionary readable with ``torch.load(path,
weights_only=True)``: ``format``, ``version``, ``round``, ``num_classes``, ``classes`` (names),
``encoder``, ``head_dropout``, ``working_size`` ([H, W] or None: native), ``trained_on`` (the
image stems it was trained on), ``quality`` (the round's estimate, see ``quality``) and
``state_dict``. ``build_model(num_classes, encoder, weights="none", head_dropout)`` followed by
``load_state_dict`` rebuilds it (``RoundModel.load``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from alseg.data.transforms import eval_batches
from alseg.devices import autocast
from alseg.embeddings import resized
from alseg.errors import DataError
from alseg.io import atomic_write_bytes
from alseg.models import SegmentationModel, build_model
from alseg.project.images import ImageFolderDataset, image_size

MODEL_FILE = "model.pt"
MODEL_FORMAT = "alseg-round-model"
MODEL_VERSION = 1


@dataclass
class RoundModel:
    """A trained model and the record that rebuilds it (everything but ``state_dict``)."""

    model: SegmentationModel
    record: dict[str, Any]

    @property
    def working_size(self) -> tuple[int, int] | None:
        size = self.record["working_size"]
        return None if size is None else (int(size[0]), int(size[1]))

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        torch.save({**self.record, "state_dict": state}, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> RoundModel:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DataError(f"{path}: round model not found") from None
        except Exception as exc:  # a corrupt or foreign file: torch raises many kinds
            raise DataError(f"{path}: cannot read round model ({exc})") from exc
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != MODEL_FORMAT:
            raise DataError(f"{path}: not an alseg round model")
        if checkpoint.get("version") != MODEL_VERSION:
            raise DataError(
                f"{path}: round model version {checkpoint.get('version')!r}; this alseg reads "
                f"version {MODEL_VERSION}"
            )
        record = {k: v for k, v in checkpoint.items() if k != "state_dict"}
        model = build_model(
            int(record["num_classes"]),
            encoder=record["encoder"],
            weights="none",
            head_dropout=float(record["head_dropout"]),
        )
        model.load_state_dict(checkpoint["state_dict"])
        return cls(model.eval(), record)

    @torch.no_grad()
    def predict(
        self,
        images: Sequence[Path],
        device: torch.device,
        batch_size: int = 8,
        on_image: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[Path, np.ndarray, float]]:
        """(image, class indices uint8/uint16 HxW at the image's own size, confidence) per
        image: the model runs at the working size, its logits are resized to the image
        (bilinear) before the arg max; confidence is the mean top class probability."""
        dataset = ImageFolderDataset(list(images), images[0].parent)
        work = resized(dataset, self.working_size)
        self.model.eval().to(device)
        dtype = np.uint8 if int(self.record["num_classes"]) <= 255 else np.uint16
        done = 0
        for batch, _, positions in eval_batches(work, None, batch_size):
            with autocast(device):
                logits = self.model(batch.to(device))
            for row, position in enumerate(positions.tolist()):
                path = dataset.pairs[position].image
                height, width = image_size(path)
                scores = F.interpolate(
                    logits[row : row + 1].float(),
                    size=(height, width),
                    mode="bilinear",
                    align_corners=False,
                ).softmax(1)[0]
                confidence, indices = scores.max(0)
                done += 1
                if on_image is not None:
                    on_image(done, len(dataset))
                yield path, indices.cpu().numpy().astype(dtype), float(confidence.mean())
