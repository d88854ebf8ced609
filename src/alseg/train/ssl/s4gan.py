"""s4GAN semi-supervised training (SPEC §5): feature matching and discriminator-gated self-training.

Per iteration: one labeled and one unlabeled batch go through the segmenter together; the labeled
batch serves both L_ce and the discriminator's real input (the paper's code draws a second one). The
discriminator sees ``[softmax(prediction); image]`` of the unlabeled batch (fake) and
``[one_hot(ground truth); image]`` of the labeled batch (real). Ignored labeled pixels (255, also
the crop padding) are all-zero in the one-hot map, as in the paper's code; the unlabeled class map
is zeroed where the augmentation padded, so padding looks the same to the discriminator either way.
The segmenter minimises ``L_ce + lambda_fm * L_fm + lambda_st * L_st``, then the discriminator takes
one Adam step on the binary cross-entropy of fake (0) and real (1), both with poly decay.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alseg.data.base import IGNORE_INDEX
from alseg.train.common import labeled_loss, poly_lr
from alseg.train.registry import register_trainer
from alseg.train.request import FitRequest, FitResult
from alseg.train.ssl.common import finish_run, report_step, start_run
from alseg.train.ssl.params import S4GANParams, validate


@dataclass
class DiscriminatorOutput:
    logit: torch.Tensor  # (B,) before the sigmoid
    features: torch.Tensor  # (B, 8 * channels) globally average-pooled conv4 features

    @property
    def score(self) -> torch.Tensor:
        """Probability of "real", in (0, 1)."""
        return torch.sigmoid(self.logit)


class Discriminator(nn.Module):
    """Four 4x4 stride-2 convs (c, 2c, 4c, 8c), LeakyReLU 0.2, Dropout2d after the first three,
    global average pool, linear -> 1 (the sigmoid is applied by ``DiscriminatorOutput.score``)."""

    def __init__(self, in_channels: int, channels: int = 64, dropout: float = 0.5) -> None:
        super().__init__()
        widths = [in_channels, channels, 2 * channels, 4 * channels, 8 * channels]
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1)]
            layers += [nn.LeakyReLU(0.2)]
            if i < 3:
                layers += [nn.Dropout2d(dropout)]
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1], 1)

    def forward(self, inputs: torch.Tensor) -> DiscriminatorOutput:
        features = self.convs(inputs).mean(dim=(2, 3))
        return DiscriminatorOutput(self.fc(features).squeeze(1), features)


def one_hot_with_ignore(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, H, W) class ids -> (B, C, H, W) float one-hot; ignored pixels (255) are all zero."""
    valid = labels != IGNORE_INDEX
    hot = F.one_hot(torch.where(valid, labels, 0), num_classes).permute(0, 3, 1, 2).float()
    return hot * valid[:, None]


def feature_matching_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between the batch means of real and fake features (B, D)."""
    return (real.mean(dim=0) - fake.mean(dim=0)).abs().mean()


def self_training_mask(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B,) bool: images whose discriminator score is strictly above ``threshold``."""
    return scores > threshold


def self_training_loss(
    logits: torch.Tensor, selected: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of the ``selected`` images against their own argmax, over their valid pixels;
    exactly 0 when no image is selected."""
    if not bool(selected.any()):
        return logits.new_zeros(())
    chosen = logits[selected]
    targets = chosen.detach().argmax(dim=1)
    targets = torch.where(valid[selected], targets, IGNORE_INDEX)
    if not bool((targets != IGNORE_INDEX).any()):
        return logits.new_zeros(())
    return F.cross_entropy(chosen, targets, ignore_index=IGNORE_INDEX)


def discriminator_loss(fake_logit: torch.Tensor, real_logit: torch.Tensor) -> torch.Tensor:
    """(BCE(fake, 0) + BCE(real, 1)) / 2 on the sigmoid of the logits."""
    fake = F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    real = F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
    return (fake + real) / 2


def discriminator_optimizer(discriminator: Discriminator, params: S4GANParams) -> torch.optim.Adam:
    """Adam with ``initial_lr`` set, so ``poly_lr`` decays it like the segmenter's SGD."""
    lr = params.d_lr
    group = {"params": list(discriminator.parameters()), "lr": lr, "initial_lr": lr}
    return torch.optim.Adam([group], betas=params.d_betas)


@register_trainer("s4gan", semi_supervised=True, options=S4GANParams)
def fit_s4gan(request: FitRequest) -> FitResult:
    """s4GAN training; ``fit`` trains supervised instead when there are no unlabeled images."""
    model, train, device = request.model, request.train, request.device
    params = validate(S4GANParams, request.ssl.options)
    run = start_run(request)
    discriminator = Discriminator(model.num_classes + 3, params.d_channels, params.d_dropout)
    discriminator.to(device).train()
    d_optimizer = discriminator_optimizer(discriminator, params)
    losses: dict[str, float] = {}
    for iteration in range(run.total):
        poly_lr(run.optimizer, iteration, run.total, train.poly_power)
        poly_lr(d_optimizer, iteration, run.total, train.poly_power)
        images, masks = run.next_labeled(device, train)
        images_u, valid_u = run.next_unlabeled(device, train)
        logits = model(torch.cat([images, images_u]))
        logits_l, logits_u = logits[: len(images)], logits[len(images) :]
        ce = labeled_loss(logits_l, masks)

        fake_input = torch.cat([logits_u.softmax(dim=1) * valid_u[:, None], images_u], dim=1)
        real_input = torch.cat([one_hot_with_ignore(masks, model.num_classes), images], dim=1)
        discriminator.requires_grad_(False)
        fake = discriminator(fake_input)
        with torch.no_grad():
            real = discriminator(real_input)
        fm = feature_matching_loss(real.features, fake.features)
        selected = self_training_mask(fake.score.detach(), params.st_threshold)
        st = self_training_loss(logits_u, selected, valid_u)
        loss = ce + params.lambda_fm * fm + params.lambda_st * st
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()

        discriminator.requires_grad_(True)
        d_loss = discriminator_loss(
            discriminator(fake_input.detach()).logit, discriminator(real_input).logit
        )
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        d_optimizer.step()

        losses = {
            "total": float(loss.detach()),
            "ce": float(ce.detach()),
            "fm": float(fm.detach()),
            "st": float(st.detach()),
            "discriminator": float(d_loss.detach()),
        }
        report_step(request.on_step, iteration, run.total, losses)
    return finish_run(model, run, losses)
