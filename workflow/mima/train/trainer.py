"""Training loop: Adam, seeded split, validation loss, early stopping,
per-epoch checkpoints and resume.

A checkpoint holds the model, the optimiser, the history, the early-stopping
state and the RNG state, so a run resumed from epoch k ends with exactly the
parameters of an uninterrupted run (on the same device).

Adam is torch's fused implementation where the device has one (CPU, CUDA):
one pass over each parameter instead of a dozen element-wise kernels, which
on the CPU made the optimiser step cost more than the model's forward and
backward passes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import InputError, one_line
from ..model.module import MIMAModule
from .config import TrainConfig
from .data import PairedArrays, minibatch_rows, train_validation_split
from .device import resolve_device

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "last.pt"
#: Bumped when the parameter layout or the optimiser changes, so that an
#: older checkpoint counts as another run and is not resumed.
CHECKPOINT_FORMAT = 2
#: Without a progress bar (e.g. in a pipeline log), one loss line this often.
LOG_EVERY_S = 10.0


@dataclass
class TrainingResult:
    """What a training run produced besides the module's weights.

    Attributes
    ----------
    history
        Per-epoch loss parts, keys ``train_<part>`` and ``validation_<part>``.
    train_indices, validation_indices
        The seeded 80/20 split (cell positions).
    epochs_planned
        Epochs after the ``min_steps`` rule.
    stopped_early
        Whether early stopping ended the run.
    resumed_from_epoch
        Epochs already done in the checkpoint the run resumed from (0: fresh).
    epoch_seconds, validation_seconds
        Wall time of each epoch run in this session (training and
        validation passes), and of its validation pass alone; for
        benchmarks, not part of the history, which is the same on every run
        of the same seed.
    steps
        Optimiser steps taken, including those of a resumed checkpoint.
    """

    history: dict = field(default_factory=dict)
    train_indices: np.ndarray | None = None
    validation_indices: np.ndarray | None = None
    epochs_planned: int = 0
    stopped_early: bool = False
    resumed_from_epoch: int = 0
    epoch_seconds: list = field(default_factory=list)
    validation_seconds: list = field(default_factory=list)
    steps: int = 0

    @property
    def epochs_run(self) -> int:
        """Number of epochs in the history."""
        return len(self.history.get("train_total", []))


def planned_epochs(n_train: int, config: TrainConfig) -> int:
    """Epochs to run: ``max_epochs``, raised so that at least ``min_steps``
    optimiser steps are taken on small datasets."""
    steps_per_epoch = max(1, math.ceil(n_train / config.batch_size))
    return max(config.max_epochs, math.ceil(config.min_steps / steps_per_epoch))


def fingerprint(module: MIMAModule, data: PairedArrays, config: TrainConfig) -> str:
    """Hash of everything that determines a run; a checkpoint with another
    fingerprint is not resumed."""
    settings = {k: v for k, v in config.to_dict().items() if k not in ("progress", "num_threads", "device")}
    described = {
        "format": CHECKPOINT_FORMAT,
        "model": module.config.to_dict(),
        "train": settings,
        "shapes": {m: list(x.shape) for m, x in data.matrices.items()},
        "batches": hashlib.sha256(data.batch_codes.tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_weights(path: Path, device: torch.device | str, fix: str) -> dict:
    """Load a torch file with ``weights_only=True`` (no arbitrary pickles).

    Parameters
    ----------
    path
        A checkpoint or saved weights.
    device
        Where to map the tensors.
    fix
        What the user should do when the file is refused or unreadable.

    Returns
    -------
    dict
        The stored state.

    Raises
    ------
    InputError
        When the file holds anything but tensors and plain containers (a
        pickled object that would run code), or is truncated.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError here
        problem = f"refused or unreadable as weights only ({one_line(error)[:200]})"
        raise InputError(str(path), "weights", problem, fix) from error


def load_checkpoint(path: Path, device: torch.device) -> dict:
    """Load a training checkpoint (see :func:`load_weights`)."""
    return load_weights(path, device, f"delete {path.parent} to train from the start")


def make_optimizer(module: MIMAModule, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam over the module's parameters.

    Parameters
    ----------
    module
        The module, already on ``device``.
    lr
        Learning rate.
    device
        Where the parameters live; on the CPU and CUDA, torch's fused Adam.

    Returns
    -------
    torch.optim.Adam
    """
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(module.parameters(), lr=lr, fused=fused or None)


def _run_epoch(module, data, rows_iter, device, optimizer=None, max_steps=None) -> tuple[dict[str, float], int]:
    """One pass over minibatches; trains when an optimiser is given, for at
    most ``max_steps`` steps. Returns the cell-weighted mean of each loss
    part and the number of minibatches."""
    sums: dict[str, float] = defaultdict(float)
    n_seen = steps = 0
    for rows in rows_iter:
        if max_steps is not None and steps >= max_steps:
            break
        steps += 1
        x, batch_index, present = data.minibatch(rows, device)
        if optimizer is None:
            with torch.no_grad():
                _, parts = module.loss(x, batch_index, present)
        else:
            loss, parts = module.loss(x, batch_index, present)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged (loss {float(loss)}): lower train.lr or check the input scale"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        for name, value in parts.items():
            sums[name] += value * len(rows)
        n_seen += len(rows)
    means = {name: value / max(n_seen, 1) for name, value in sums.items()}
    return means, steps


@torch.no_grad()
def store_batch_latent_means(module: MIMAModule, data: PairedArrays, rows: np.ndarray, device: torch.device, batch_size: int = 1024) -> None:
    """Fill ``module.batch_latent_mean`` with each sample's mean batch latent
    (posterior means) over ``rows``; a sample with no cell in ``rows`` falls
    back to all of its cells."""
    module.eval()
    n_batches, latent = module.config.n_batches, module.config.latent_dim
    for i, m in enumerate(module.names):
        sums = torch.zeros(n_batches, latent, device=device)
        counts = torch.zeros(n_batches, device=device)
        for use in (rows, np.arange(data.n_cells)):
            missing = counts == 0
            if not bool(missing.any()):
                break
            for chunk in minibatch_rows(use, batch_size):
                chunk = chunk[data.present[m][chunk]]
                if chunk.size == 0:
                    continue
                x, batch_index, _ = data.minibatch(chunk, device)
                mean, _ = module.encoders[m](x[m], batch_index)["batch"]
                # one-hot products, not index_add_: its CUDA atomics sum in a
                # varying order, so the means (and resumed runs) would differ
                one_hot = F.one_hot(batch_index, n_batches).to(mean.dtype) * missing[batch_index].unsqueeze(-1)
                sums += one_hot.T @ mean
                counts += one_hot.sum(0)
        module.batch_latent_mean[i] = sums / counts.clamp_min(1.0).unsqueeze(-1)


def train_module(
    module: MIMAModule,
    data: PairedArrays,
    config: TrainConfig,
    checkpoint_dir: str | os.PathLike | None = None,
) -> TrainingResult:
    """Train ``module`` on ``data`` in place.

    Parameters
    ----------
    module
        A freshly built (seeded) module.
    data
        Aligned input matrices.
    config
        Training settings.
    checkpoint_dir
        Folder for ``last.pt``, written after every epoch. When it holds a
        checkpoint of the same run (same fingerprint), training resumes from
        it; a checkpoint of another run is ignored and overwritten.

    Returns
    -------
    TrainingResult
    """
    device = resolve_device(config.device)
    if config.num_threads:
        torch.set_num_threads(int(config.num_threads))
    module.to(device)
    train_rows, validation_rows = train_validation_split(data.n_cells, config.validation_fraction, config.seed)
    result = TrainingResult(
        train_indices=train_rows, validation_indices=validation_rows,
        epochs_planned=planned_epochs(train_rows.size, config),
    )
    optimizer = make_optimizer(module, config.lr, device)
    torch.manual_seed(config.seed)
    history: dict[str, list[float]] = defaultdict(list)
    best, bad_epochs, start_epoch = math.inf, 0, 0

    run_id = fingerprint(module, data, config)
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    if checkpoint is not None and checkpoint.exists():
        state = load_checkpoint(checkpoint, device)
        if state.get("fingerprint") == run_id:
            module.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history.update({k: list(v) for k, v in state["history"].items()})
            best, bad_epochs, start_epoch = state["best"], state["bad_epochs"], state["epoch"]
            result.stopped_early = state["stopped_early"]
            torch.set_rng_state(state["rng"].cpu())
            if device.type == "cuda" and "cuda_rng" in state:
                torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
            result.resumed_from_epoch = start_epoch
            result.steps = state.get("steps", 0)
            log.info("resuming from %s at epoch %d", checkpoint, start_epoch)
        else:
            log.warning("ignoring checkpoint %s of a different run", checkpoint)

    epochs = range(start_epoch, result.epochs_planned)
    bar = tqdm(epochs, desc="MIMA", unit="epoch", disable=not config.progress or result.stopped_early, initial=start_epoch, total=result.epochs_planned)
    last_logged = 0.0
    for epoch in bar:
        if result.stopped_early or (config.max_steps is not None and result.steps >= config.max_steps):
            break
        started = time.perf_counter()
        module.train()
        remaining = None if config.max_steps is None else config.max_steps - result.steps
        train_parts, steps = _run_epoch(module, data, minibatch_rows(train_rows, config.batch_size, (config.seed, epoch)),
                                        device, optimizer, remaining)
        result.steps += steps
        module.eval()
        validation_started = time.perf_counter()
        with module.fixed_weights():
            validation_parts = _run_epoch(module, data, minibatch_rows(validation_rows, config.batch_size), device)[0] if validation_rows.size else {}
        result.validation_seconds.append(time.perf_counter() - validation_started)
        result.epoch_seconds.append(time.perf_counter() - started)
        for name, value in train_parts.items():
            history[f"train_{name}"].append(value)
        for name, value in validation_parts.items():
            history[f"validation_{name}"].append(value)
        monitored = validation_parts.get("total", train_parts["total"])
        bar.set_postfix(train=f"{train_parts['total']:.4f}", validation=f"{monitored:.4f}")
        if time.monotonic() - last_logged > LOG_EVERY_S or epoch + 1 == result.epochs_planned:
            last_logged = time.monotonic()
            log.info("epoch %d/%d: train loss %.4f, validation loss %.4f",
                     epoch + 1, result.epochs_planned, train_parts["total"], monitored)
        if monitored < best - config.min_delta:
            best, bad_epochs = monitored, 0
        else:
            bad_epochs += 1
        result.stopped_early = config.early_stopping and bad_epochs >= config.patience
        if checkpoint is not None:
            state = {
                "fingerprint": run_id, "epoch": epoch + 1, "steps": result.steps,
                "model": module.state_dict(), "optimizer": optimizer.state_dict(),
                "history": dict(history), "best": best, "bad_epochs": bad_epochs,
                "stopped_early": result.stopped_early, "rng": torch.get_rng_state(),
            }
            if device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(device)
            save_checkpoint(checkpoint, state)
    bar.close()
    # the rehearsal's projection reads this line to scale a shortened run
    log.info("trained %d steps in %.1f s (%.4f s per step; validation %.1f s)", result.steps,
             sum(result.epoch_seconds) - sum(result.validation_seconds),
             (sum(result.epoch_seconds) - sum(result.validation_seconds)) / max(result.steps, 1),
             sum(result.validation_seconds))
    result.history = dict(history)
    store_batch_latent_means(module, data, train_rows, device)
    return result
