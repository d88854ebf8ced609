"""Per-image uncertainty scores from segmentation logits.

Every function takes logits shaped (B, C, H, W) (BALD: one such tensor per MC pass), computes in
float32 on the logits' device and returns one score per image as a (B,) float32 tensor.
"""

from __future__ import annotations

from typing import Literal

import torch

EntropyNormalize = Literal["none", "minmax"]
EqualVariant = Literal["entropy", "consistency"]


def _check_logits(logits: torch.Tensor, name: str = "logits") -> torch.Tensor:
    if logits.ndim != 4:
        raise ValueError(f"{name} must be shaped (B, C, H, W), got {tuple(logits.shape)}")
    return logits.float()


def _entropy_from_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """Per-pixel −Σ p ln p over dim 1, with 0·ln 0 = 0."""
    probs = log_probs.exp()
    return -torch.where(probs > 0, probs * log_probs, 0.0).sum(dim=1)


def entropy_map(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel softmax entropy in nats, (B, H, W)."""
    return _entropy_from_log_probs(torch.log_softmax(_check_logits(logits), dim=1))


def entropy(logits: torch.Tensor, normalize: EntropyNormalize = "none") -> torch.Tensor:
    """Mean per-pixel entropy per image, (B,).

    ``normalize="minmax"`` (the official code's quirk) first rescales each image's entropy map
    linearly to [0, 255] (its minimum to 0, its maximum to 255; a constant map becomes 0).
    """
    if normalize not in ("none", "minmax"):
        raise ValueError(f"unknown entropy normalize {normalize!r}; allowed: minmax, none")
    h = entropy_map(logits).flatten(1)
    if normalize == "minmax":
        low = h.amin(dim=1, keepdim=True)
        span = h.amax(dim=1, keepdim=True) - low
        h = torch.where(span > 0, (h - low) * (255.0 / span), 0.0)
    return h.mean(dim=1)


def equal(
    logits: torch.Tensor,
    logits_flipped_input: torch.Tensor,
    variant: EqualVariant = "entropy",
) -> torch.Tensor:
    """EquAL score per image, (B,).

    ``logits_flipped_input`` are the model's logits for the horizontally flipped image, not yet
    flipped back. ``"entropy"`` (paper default): mean H(x) + mean H(hflip x). ``"consistency"``:
    mean per-pixel symmetric KL between p(x) and hflip(p(hflip x)).
    """
    if variant not in ("entropy", "consistency"):
        raise ValueError(f"unknown EquAL variant {variant!r}; allowed: consistency, entropy")
    if logits.shape != logits_flipped_input.shape:
        raise ValueError(
            f"EquAL needs logits of equal shape, got {tuple(logits.shape)} "
            f"and {tuple(logits_flipped_input.shape)}"
        )
    if variant == "entropy":
        return entropy(logits) + entropy(logits_flipped_input)
    log_p = torch.log_softmax(_check_logits(logits), dim=1)
    flipped_back = _check_logits(logits_flipped_input, "flipped logits").flip(dims=(-1,))
    log_q = torch.log_softmax(flipped_back, dim=1)
    # KL(p||q) + KL(q||p) = Σ (p − q)(ln p − ln q)
    sym_kl = ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=1)
    return sym_kl.flatten(1).mean(dim=1)


class BaldAccumulator:
    """BALD mutual information, fed one MC-dropout pass at a time.

    Keeps only the running sum of probabilities (B, C, H, W) and of per-pass entropies (B, H, W).
    """

    def __init__(self) -> None:
        self._prob_sum: torch.Tensor | None = None
        self._entropy_sum: torch.Tensor | None = None
        self.passes = 0

    def add(self, logits: torch.Tensor) -> None:
        """Add the logits (B, C, H, W) of one stochastic forward pass."""
        log_probs = torch.log_softmax(_check_logits(logits), dim=1)
        if self._prob_sum is None or self._entropy_sum is None:
            self._prob_sum = log_probs.exp()
            self._entropy_sum = _entropy_from_log_probs(log_probs)
        else:
            if log_probs.shape != self._prob_sum.shape:
                raise ValueError(
                    f"MC pass logits {tuple(log_probs.shape)} differ from the first pass "
                    f"{tuple(self._prob_sum.shape)}"
                )
            self._prob_sum += log_probs.exp()
            self._entropy_sum += _entropy_from_log_probs(log_probs)
        self.passes += 1

    def mutual_information_map(self) -> torch.Tensor:
        """Per-pixel MI = H(mean_t p_t) − mean_t H(p_t), (B, H, W)."""
        if self._prob_sum is None or self._entropy_sum is None:
            raise ValueError("BALD needs at least one MC pass, got 0")
        mean_p = self._prob_sum / self.passes
        entropy_of_mean = -torch.special.xlogy(mean_p, mean_p).sum(dim=1)
        return entropy_of_mean - self._entropy_sum / self.passes

    def scores(self) -> torch.Tensor:
        """Mean mutual information per image, (B,)."""
        return self.mutual_information_map().flatten(1).mean(dim=1)


def bald(mc_logits: torch.Tensor) -> torch.Tensor:
    """BALD score per image, (B,), for stacked MC-pass logits (T, B, C, H, W)."""
    if mc_logits.ndim != 5:
        raise ValueError(f"mc_logits must be shaped (T, B, C, H, W), got {tuple(mc_logits.shape)}")
    accumulator = BaldAccumulator()
    for pass_logits in mc_logits:
        accumulator.add(pass_logits)
    return accumulator.scores()
