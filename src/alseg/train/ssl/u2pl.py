"""U2PL semi-supervised training (SPEC §5): reliable pseudo-labels, unreliable pixels as negatives.

Per iteration, after a supervised warm-up:
- the EMA teacher labels the unlabeled batch u (argmax); each image is CutMixed (chance
  ``cutmix_prob``, a box of half the image) with the next image of the batch, labels alike;
- the student sees [labeled x; mixed u] together; loss = L_ce + w_u L_u + w_c L_c;
- L_u: cross-entropy against the pseudo-labels on all but the alpha_t % highest-entropy valid
  pixels (entropy of the teacher on the mixed images), normalised as the original does: the mean
  over the kept pixels times (all pixels / kept pixels); alpha_t = unreliable_percent * (1 - t),
  t = iteration / iterations;
- L_c: per class c, anchors are student features of pixels labelled c (ground truth, or a
  pseudo-label among the lowest-entropy a_t % unlabeled pixels) where the teacher gives c
  probability > delta_p; the positive is the teacher's mean feature of those pixels; negatives come
  from a fixed-length queue of teacher features of pixels that are not c but confusable with it:
  labeled pixels with c among the teacher's top r_l classes, and unreliable unlabeled pixels (the
  a_t % highest entropy) ranking c in [r_l, r_h). This follows the paper (Eqs. 14-16); the authors'
  code, as published, keeps only pixels labelled c as negatives of c, which empties the labeled
  part (their issue #171). InfoNCE with cosine similarity and temperature; ``num_queries`` anchors
  and ``num_negatives`` per anchor are sampled per class; the loss is averaged over the classes
  present (0 below two).

Features for L_c: SegmentationModel does not expose its decoder features, so a projection head
owned by the trainer (3x3 conv, BN, ReLU, 1x1 conv to ``rep_dim``) maps the 256-channel ASPP output
(stride 16) to the representation; labels, masks and probabilities are read at the centre pixel of
each stride x stride cell. The teacher (model and head) is a deep copy, always in eval mode,
updated after each step by EMA of parameters and floating-point buffers (so its BN uses EMA running
statistics), with decay min(1 - 1 / (k + 1), ema_decay) at the k-th semi-supervised step. As U2PL
evaluates its teacher, the trained model handed back is the teacher (``evaluate_teacher``; the
loop then evaluates and scores with it), unless no semi-supervised step ran.

Remaining differences from the original: features come from the trainer's projection head on the
ASPP output instead of the decoder's representation head; negatives follow the paper (above); no
auxiliary loss or OHEM; the labeled and unlabeled batches share one optimizer step and schedule
with alseg's poly decay; the original's momentum prototype option is not implemented.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from alseg.data.base import IGNORE_INDEX
from alseg.models import SegmentationModel
from alseg.train.common import labeled_loss, poly_lr
from alseg.train.registry import register_trainer
from alseg.train.request import FitRequest, FitResult
from alseg.train.ssl.common import (
    AUGMENT_STREAM,
    SAMPLING_STREAM,
    cutmix_boxes,
    entropy,
    finish_run,
    mix,
    report_step,
    start_run,
    stream_rng,
)
from alseg.train.ssl.params import U2PLParams, validate

ASPP_CHANNELS = 256


class ProjectionHead(nn.Module):
    """ASPP output -> contrastive representation (3x3 conv, BN, ReLU, 1x1 conv)."""

    def __init__(self, in_channels: int = ASPP_CHANNELS, out_channels: int = 256) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, out_channels, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class ClassQueues:
    """Per class, the latest at most ``length`` feature vectors (a bounded FIFO)."""

    def __init__(self, num_classes: int, length: int) -> None:
        self.length = length
        self.queues: list[torch.Tensor | None] = [None] * num_classes

    def push(self, cls: int, features: torch.Tensor) -> None:
        if len(features) == 0:
            return
        queue = self.queues[cls]
        joined = features if queue is None else torch.cat([queue, features])
        self.queues[cls] = joined[-self.length :].detach()

    def get(self, cls: int) -> torch.Tensor | None:
        return self.queues[cls]


def ema_decay(step: int, decay: float) -> float:
    """min(1 - 1 / (step + 1), decay): 0 (a copy) at the first semi-supervised step."""
    return min(1.0 - 1.0 / (step + 1), decay)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    """teacher = decay * teacher + (1 - decay) * student for parameters and float buffers;
    other buffers (e.g. BN batch counters) are copied."""
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)
    for t, s in zip(teacher.buffers(), student.buffers(), strict=True):
        if t.is_floating_point():
            t.mul_(decay).add_(s, alpha=1.0 - decay)
        else:
            t.copy_(s)


def decayed_percent(percent: float, progress: float) -> float:
    """percent * (1 - progress): U2PL's linearly shrinking share, progress = iteration / total."""
    return percent * (1.0 - progress)


def percentile(values: torch.Tensor, percent: float) -> torch.Tensor:
    """The ``percent``-th percentile of a 1-D tensor, interpolated linearly as numpy's default
    (by sorting, so unlike ``torch.quantile`` it has no size limit)."""
    ordered = values.sort().values
    position = percent / 100.0 * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def reliable_mask(values: torch.Tensor, valid: torch.Tensor, percent: float) -> torch.Tensor:
    """Valid pixels except the ``percent`` % with the highest ``values`` (entropy).

    The cut is the (100 - percent)-th percentile of the valid values; pixels strictly above it are
    dropped, so ties at the cut and ``percent = 0`` keep all.
    """
    if percent <= 0 or not bool(valid.any()):
        return valid.clone()
    return valid & (values <= percentile(values[valid], 100.0 - percent))


def entropy_extremes(
    values: torch.Tensor, valid: torch.Tensor, percent: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(lowest, highest): valid pixels at or below the ``percent``-th percentile of ``values`` and
    at or above the (100 - ``percent``)-th."""
    if not bool(valid.any()):
        return valid.clone(), valid.clone()
    chosen = values[valid]
    low, high = percentile(chosen, percent), percentile(chosen, 100.0 - percent)
    return valid & (values <= low), valid & (values >= high)


def info_nce(
    anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean over Q anchors (Q, D) of -log softmax of cosine similarities / temperature, with the
    positive (Q, D) at index 0 and the negatives (Q, K, D) after it."""
    candidates = torch.cat([positives[:, None], negatives], dim=1)
    logits = torch.cosine_similarity(anchors[:, None], candidates, dim=2) / temperature
    target = torch.zeros(len(anchors), dtype=torch.long, device=anchors.device)
    return nn.functional.cross_entropy(logits, target)


def grid_nearest(maps: torch.Tensor, grid: tuple[int, int], stride: int) -> torch.Tensor:
    """Values (..., H, W) at the centre pixel of each cell of a stride-``stride`` (h, w) grid whose
    cells start at the top-left (the model pads bottom and right); centres past the image clamp."""
    height, width = maps.shape[-2:]
    rows = (torch.arange(grid[0], device=maps.device) * stride + stride // 2).clamp(max=height - 1)
    cols = (torch.arange(grid[1], device=maps.device) * stride + stride // 2).clamp(max=width - 1)
    return maps[..., rows[:, None], cols[None, :]]


def negative_masks(
    labels: torch.Tensor,
    probs: torch.Tensor,
    labeled: torch.Tensor,
    unreliable: torch.Tensor,
    params: U2PLParams,
) -> torch.Tensor:
    """(N, C) bool: pixel n may serve as a negative of class c.

    Labeled pixels (valid label != c) qualify when c is among the teacher's top ``low_rank``
    classes; unreliable unlabeled pixels when c ranks in [low_rank, high_rank); both need teacher
    probability of c below ``negative_threshold``.
    """
    ranks = probs.argsort(dim=1, descending=True).argsort(dim=1)
    classes = torch.arange(probs.shape[1], device=probs.device)
    confusable = (labels[:, None] != classes) & (ranks < params.low_rank)
    labeled_negative = (labeled & (labels != IGNORE_INDEX))[:, None] & confusable
    unlikely = (ranks >= params.low_rank) & (ranks < params.high_rank)
    unlabeled_negative = (~labeled & unreliable)[:, None] & unlikely
    return (labeled_negative | unlabeled_negative) & (probs < params.negative_threshold)


def contrastive_loss(
    features: torch.Tensor,
    teacher_features: torch.Tensor,
    labels: torch.Tensor,
    probs: torch.Tensor,
    reliable: torch.Tensor,
    negatives: torch.Tensor,
    queues: ClassQueues,
    params: U2PLParams,
    generator: torch.Generator,
) -> torch.Tensor:
    """U2PL's contrastive loss on N pixels; enqueues this step's negatives first.

    features, teacher_features (N, D); labels (N,) with 255 = none; probs (N, C) of the teacher;
    reliable (N,) bool: pixels whose label may anchor; negatives (N, C) from ``negative_masks``.
    """
    num_classes = probs.shape[1]
    for cls in range(num_classes):
        queues.push(cls, teacher_features[negatives[:, cls]])
    present = [cls for cls in range(num_classes) if bool((reliable & (labels == cls)).any())]
    if len(present) < 2:
        return features.new_zeros(())
    total = features.new_zeros(())
    for cls in present:
        members = reliable & (labels == cls)
        anchors = features[members & (probs[:, cls] > params.anchor_threshold)]
        queue = queues.get(cls)
        if len(anchors) == 0 or queue is None:
            continue
        picks = torch.randint(len(anchors), (params.num_queries,), generator=generator)
        drawn = torch.randint(
            len(queue), (params.num_queries * params.num_negatives,), generator=generator
        )
        prototype = teacher_features[members].mean(dim=0)
        total = total + info_nce(
            anchors[picks.to(anchors.device)],
            prototype.expand(params.num_queries, -1),
            queue[drawn.to(queue.device)].view(params.num_queries, params.num_negatives, -1),
            params.temperature,
        )
    return total / len(present)


class U2PLStep:
    """The trainer-owned parts of one U2PL run (projection head, EMA teacher, queues, random
    streams) and the losses of one iteration."""

    def __init__(
        self, model: SegmentationModel, params: U2PLParams, device: torch.device, seed: int
    ) -> None:
        self.model = model
        self.params = params
        self.head = ProjectionHead(ASPP_CHANNELS, params.rep_dim).to(device).train()
        self.teacher = copy.deepcopy(model).eval().requires_grad_(False)
        self.teacher_head = copy.deepcopy(self.head).eval().requires_grad_(False)
        self.queues = ClassQueues(model.num_classes, params.queue_length)
        self.rng = stream_rng(seed, AUGMENT_STREAM)
        sampling_seed = int(stream_rng(seed, SAMPLING_STREAM).integers(2**62))
        self.generator = torch.Generator().manual_seed(sampling_seed)

    def update_teacher(self, decay: float) -> None:
        ema_update(self.teacher, self.model, decay)
        ema_update(self.teacher_head, self.head, decay)

    def losses(
        self,
        images: torch.Tensor,
        masks: torch.Tensor,
        weak: torch.Tensor,
        valid: torch.Tensor,
        progress: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(L_ce, L_u, L_c) at ``progress`` = iteration / iterations."""
        params, n = self.params, len(images)
        with torch.no_grad():
            labels = self.teacher(weak).argmax(dim=1)
        boxes = cutmix_boxes(
            len(weak), weak.shape[-2:], self.rng, params.cutmix_prob, (0.5, 0.5), (0.3, 1 / 0.3)
        )
        mixed = mix_with_next(weak, boxes)
        valid = mix_with_next(valid, boxes)
        labels = torch.where(valid, mix_with_next(labels, boxes), IGNORE_INDEX)
        inputs = torch.cat([images, mixed])
        output = self.model.forward_output(inputs)
        features = self.head(output.features)
        with torch.no_grad():
            teacher_output = self.teacher.forward_output(inputs)
            teacher_features = self.teacher_head(teacher_output.features)
            probs = teacher_output.logits.softmax(dim=1)
            uncertainty = entropy(probs[n:])
            kept = reliable_mask(
                uncertainty, valid, decayed_percent(params.unreliable_percent, progress)
            )
            low, high = entropy_extremes(
                uncertainty, valid, decayed_percent(params.anchor_percent, progress)
            )
        ce = labeled_loss(output.logits[:n], masks)
        unsupervised = unsupervised_loss(output.logits[n:], labels, kept)

        grid, stride = features.shape[-2:], self.model.stride
        labeled_valid = masks != IGNORE_INDEX
        is_labeled = torch.arange(len(inputs), device=images.device) < n
        pixel_maps = [
            torch.cat([masks, labels]),
            torch.cat([labeled_valid, low]),
            torch.cat([labeled_valid, high]),
            is_labeled[:, None, None].expand(-1, *masks.shape[-2:]),
        ]
        all_labels, reliable, unreliable, labeled_pixels = (
            grid_nearest(m, grid, stride).reshape(-1) for m in pixel_maps
        )
        grid_probs = _pixels(grid_nearest(probs, grid, stride))
        contrastive = contrastive_loss(
            _pixels(features),
            _pixels(teacher_features),
            all_labels,
            grid_probs,
            reliable,
            negative_masks(all_labels, grid_probs, labeled_pixels, unreliable, params),
            self.queues,
            params,
            self.generator,
        )
        return ce, unsupervised, contrastive


def unsupervised_loss(
    logits: torch.Tensor, labels: torch.Tensor, kept: torch.Tensor
) -> torch.Tensor:
    """L_u as the original normalises it: the mean cross-entropy over the ``kept`` pixels times
    (all pixels / kept pixels), i.e. their sum x all / kept^2 (0 when none is kept)."""
    per_pixel = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none")
    count = kept.sum().float()
    total = (per_pixel * kept).sum()
    return total * kept.numel() / count.square() if count > 0 else total * 0.0


def mix_with_next(batch: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Image i takes image i+1 (cyclically) inside its box, as in the authors' CutMix."""
    return mix(batch, batch.roll(-1, dims=0), boxes)


def _pixels(maps: torch.Tensor) -> torch.Tensor:
    """(B, D, h, w) -> (B*h*w, D)."""
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


@register_trainer("u2pl", semi_supervised=True, options=U2PLParams)
def fit_u2pl(request: FitRequest) -> FitResult:
    """U2PL training; ``fit`` trains supervised instead when there are no unlabeled images."""
    model, train, device, seed = request.model, request.train, request.device, request.seed
    params = validate(U2PLParams, request.ssl.options)
    run = start_run(request)
    step = U2PLStep(model, params, device, seed)
    run.optimizer.add_param_group(
        {"params": list(step.head.parameters()), "lr": train.lr_head, "initial_lr": train.lr_head}
    )
    warmup = int(params.warmup_fraction * run.total)
    zero = torch.zeros((), device=device)
    losses: dict[str, float] = {}
    for iteration in range(run.total):
        poly_lr(run.optimizer, iteration, run.total, train.poly_power)
        images, masks = run.next_labeled(device, train)
        if iteration < warmup:
            ce = labeled_loss(model(images), masks)
            unsupervised = contrastive = zero
        else:
            if iteration == warmup:
                step.update_teacher(0.0)  # the teacher starts as the (warmed-up) student
            weak, valid = run.next_unlabeled(device, train)
            ce, unsupervised, contrastive = step.losses(
                images, masks, weak, valid, iteration / run.total
            )
        loss = ce + params.unsupervised_weight * unsupervised
        loss = loss + params.contrastive_weight * contrastive
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if iteration >= warmup:
            step.update_teacher(ema_decay(iteration - warmup, params.ema_decay))
        losses = {
            "total": float(loss.detach()),
            "ce": float(ce.detach()),
            "unsupervised": float(unsupervised.detach()),
            "contrastive": float(contrastive.detach()),
        }
        report_step(request.on_step, iteration, run.total, losses)
    if params.evaluate_teacher and run.total > warmup:
        model.load_state_dict(step.teacher.state_dict())  # U2PL evaluates its EMA teacher
    return finish_run(model, run, losses)
