"""Training settings of MIMA (DESIGN §3).

Defaults are the study's. Points the study leaves open are marked
*(choice)* and stay configurable. The model's own settings are
:mod:`mima.model.config`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class TrainConfig:
    """Training settings (DESIGN §3).

    Parameters
    ----------
    lr
        Adam learning rate.
    batch_size
        Cells per minibatch.
    max_epochs
        Epochs at the study's sizes.
    min_steps
        *(choice)* Minimum number of optimiser steps. Below
        ``min_steps * batch_size / max_epochs`` training cells (about 10,000
        cells with the defaults) the 50 epochs would leave the model
        under-trained, so the number of epochs grows to reach ``min_steps``;
        at the study's sizes (40,000–90,000 cells) 50 epochs stand. 0 turns
        this off.
    validation_fraction
        Share of cells held out for the validation loss (the study: 20 %).
    seed
        Seed of the split, the shuffling, the weights and dropout.
    early_stopping
        Stop when the validation loss has not improved by ``min_delta`` for
        ``patience`` epochs *(choice; off by default)*.
    patience, min_delta
        Early-stopping settings.
    max_steps
        Stop after this many optimiser steps in all (the epoch in which the
        limit falls is the last, and is validated as usual); ``None``: no
        limit. For benchmarks and quick trials, not for real training.
    device
        ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    num_threads
        Torch CPU threads; ``None`` leaves torch's default (one per
        physical core).
    progress
        Show a progress bar with the epoch's train / validation loss.
    """

    lr: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 50
    min_steps: int = 4000
    validation_fraction: float = 0.2
    seed: int = 0
    early_stopping: bool = False
    patience: int = 10
    min_delta: float = 0.0
    max_steps: int | None = None
    device: str = "auto"
    num_threads: int | None = None
    progress: bool = True

    def __post_init__(self):
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if self.batch_size < 1 or self.max_epochs < 1 or self.min_steps < 0:
            raise ValueError("batch_size and max_epochs must be >= 1 and min_steps >= 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")

    def to_dict(self) -> dict:
        """Plain-type dictionary of the settings."""
        return asdict(self)
