"""Where computation runs: device names from the command line, mixed precision per device."""

from __future__ import annotations

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


def autocast(device: torch.device) -> torch.autocast:
    """float16 autocast on CUDA for inference; a no-op elsewhere."""
    return torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda")
