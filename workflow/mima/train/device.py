"""Device choice: CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch


def resolve_device(requested: str = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` into a torch device.

    Raises
    ------
    ValueError
        When CUDA is asked for explicitly but is not available.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} requested but CUDA is not available; use device: auto or cpu")
    return device
