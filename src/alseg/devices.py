"""Where computation runs: device names from the command line, mixed precision per device."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from alseg.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``; ConfigError otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available; use auto or cpu")
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; allowed: {', '.join(DEVICES)}")
    return torch.device(name)


#: Whether inference on CPU runs under bfloat16 autocast (``cpu_bf16`` sets it for a block).
_CPU_BF16: ContextVar[bool] = ContextVar("cpu_bf16", default=False)


@contextmanager
def cpu_bf16(enabled: bool) -> Iterator[None]:
    """Within the block, :func:`autocast` on CPU is bfloat16 autocast when ``enabled``."""
    token = _CPU_BF16.set(enabled)
    try:
        yield
    finally:
        _CPU_BF16.reset(token)


def autocast(device: torch.device) -> torch.autocast:
    """Inference precision: float16 autocast on CUDA; bfloat16 on CPU inside ``cpu_bf16(True)``;
    a no-op elsewhere."""
    if device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=_CPU_BF16.get())
    return torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda")


def train_autocast(device: torch.device, cpu_bf16: bool) -> torch.autocast:
    """Training precision: bfloat16 autocast on CPU when asked; float32 otherwise."""
    return torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=cpu_bf16 and device.type == "cpu"
    )
