"""UniMatch semi-supervised training (SPEC §5), following the structure of the authors' code.

Per iteration, with a labeled batch x, an unlabeled batch u (its regular augmentation is the weak
view) and a second unlabeled batch m that is mixed in:
- m is predicted in eval mode without gradient: its pseudo-labels and confidences;
- x and u go through the model together (train mode); u's detached prediction gives the
  pseudo-labels and confidences of the weak view; u's encoder features, with Dropout2d on every
  map the decoder reads, are decoded again: the feature-perturbed branch (fp);
- two strong views of u and of m (independent colour jitter, grayscale, blur), each u-view with its
  own CutMix box pasted from the m-view; the pseudo-labels, confidences and valid pixels are mixed
  with the same boxes;
- loss = (L_x + w_s L_s1 + w_s L_s2 + w_fp L_fp) / 2. Each unsupervised term is the per-pixel
  cross-entropy against the pseudo-labels, kept where confidence >= threshold, summed and divided
  by the number of valid (not padded) unlabeled pixels, confident or not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from alseg.data.base import IGNORE_INDEX
from alseg.train.common import labeled_loss, poly_lr, to_device
from alseg.train.registry import register_trainer
from alseg.train.request import FitRequest, FitResult
from alseg.train.ssl.common import (
    AUGMENT_STREAM,
    MIX_STREAM,
    as_format,
    cutmix_boxes,
    finish_run,
    masked_cross_entropy,
    mix,
    pseudo_labels,
    report_step,
    start_run,
    stream_rng,
    strong_colour,
    unlabeled_batches,
    unlabeled_images,
)
from alseg.train.ssl.params import UniMatchParams, validate


def pseudo_label_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    confidence: torch.Tensor,
    valid: torch.Tensor,
    threshold: float,
) -> torch.Tensor:
    """Cross-entropy where ``confidence >= threshold`` and ``valid``, over all valid pixels."""
    return masked_cross_entropy(logits, labels, (confidence >= threshold) & valid, valid)


def perturbed_features(features: list[torch.Tensor], rate: float) -> list[torch.Tensor]:
    """Dropout2d on every encoder map but the first (the padded input, read only for its size)."""
    return features[:1] + [F.dropout2d(f, rate, training=True) for f in features[1:]]


@register_trainer("unimatch", semi_supervised=True, options=UniMatchParams)
def fit_unimatch(request: FitRequest) -> FitResult:
    """UniMatch training; ``fit`` trains supervised instead when there are no unlabeled images."""
    model, train, device, seed = request.model, request.train, request.device, request.seed
    params = validate(UniMatchParams, request.ssl.options)
    run = start_run(request)
    mixed_in = unlabeled_batches(unlabeled_images(request), train, seed, MIX_STREAM)
    rng = stream_rng(seed, AUGMENT_STREAM)
    losses: dict[str, float] = {}
    for iteration in range(run.total):
        poly_lr(run.optimizer, iteration, run.total, train.poly_power)
        images, masks = run.next_labeled(device, train)
        weak, valid = run.next_unlabeled(device, train)
        weak_m, padded_m = to_device(*next(mixed_in), device, train.channels_last)
        valid_m = padded_m != IGNORE_INDEX

        model.eval()
        with torch.no_grad():
            confidence_m, labels_m = pseudo_labels(model(weak_m))
        model.train()

        size = weak.shape[-2:]
        boxes = [
            cutmix_boxes(
                len(weak), size, rng, params.cutmix_prob, params.cutmix_area, params.cutmix_ratio
            )
            for _ in range(2)
        ]
        strong = [
            mix(strong_colour(weak, rng, params), strong_colour(weak_m, rng, params), box)
            for box in boxes
        ]

        n = len(images)
        features = model.encode(torch.cat([images, weak]))
        logits = model.decode(features, size).logits
        logits_x, logits_w = logits[:n], logits[n:]
        fp_features = perturbed_features([f[n:] for f in features], params.fp_dropout)
        logits_fp = model.decode(fp_features, size).logits
        logits_s1, logits_s2 = model(as_format(torch.cat(strong), train.channels_last)).chunk(2)

        confidence, labels = pseudo_labels(logits_w)
        ce = labeled_loss(logits_x, masks)
        strong_losses = [
            pseudo_label_loss(
                logits_s,
                mix(labels, labels_m, box),
                mix(confidence, confidence_m, box),
                mix(valid, valid_m, box),
                params.confidence,
            )
            for logits_s, box in zip((logits_s1, logits_s2), boxes, strict=True)
        ]
        fp = pseudo_label_loss(logits_fp, labels, confidence, valid, params.confidence)
        loss = (ce + params.weight_strong * sum(strong_losses) + params.weight_fp * fp) / 2
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()

        losses = {
            "total": float(loss.detach()),
            "ce": float(ce.detach()),
            "s1": float(strong_losses[0].detach()),
            "s2": float(strong_losses[1].detach()),
            "fp": float(fp.detach()),
        }
        report_step(request.on_step, iteration, run.total, losses)
    return finish_run(model, run, losses)
