"""The contract every method adapter follows (OpenProblems-style).

An adapter is a module in :mod:`mima.methods` exposing

``REQUIRES``
    :class:`Requirements` — what the method needs from a dataset.
``run(mdata, modalities, params, seed, threads) -> dict[str, numpy.ndarray]``
    Embeddings by name (DESIGN §2: ``pca_<m>``, ``pca_concat``,
    ``harmony_<m>``, ``scvi_<m>``, ``totalvi``, ...), each cells × dims in
    the order of ``mdata.obs_names``.
``version() -> str``
    Version of the tool it wraps.

``mdata`` is the prepared dataset (DESIGN §2): ``X`` of each modality is the
model input, ``layers['counts']`` the raw counts where they exist,
``obs['batch']`` the sample. Adapters import their tool inside ``run`` so
that importing :mod:`mima.methods` stays light.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Requirements:
    """What a method needs from a dataset.

    Attributes
    ----------
    modalities
        Modality names that must be present (e.g. ``("rna", "adt")`` for
        totalVI); empty: any modality.
    counts
        Modalities whose ``layers['counts']`` must hold raw counts.
    min_modalities
        Fewest modalities the method works with.
    """

    modalities: tuple[str, ...] = ()
    counts: tuple[str, ...] = ()
    min_modalities: int = 1
    notes: str = field(default="", compare=False)

    def check(self, mdata, modalities: list[str], method: str, source: str) -> None:
        """Raise :class:`InputError` when the dataset cannot serve the method."""
        missing = [m for m in self.modalities if m not in modalities]
        if missing:
            raise InputError(source, f"method {method}", f"needs modalities {list(self.modalities)}; the dataset lacks {missing}",
                             f"remove {method} from this dataset's methods")
        if len(modalities) < self.min_modalities:
            raise InputError(source, f"method {method}", f"needs at least {self.min_modalities} modalities, got {modalities}",
                             f"remove {method} from this dataset's methods")
        for m in self.counts:
            if "counts" not in mdata.mod[m].layers:
                raise InputError(source, f"mod['{m}'].layers['counts']", f"{method} needs raw counts of {m}",
                                 f"provide counts or remove {method} from this dataset's methods")


# --------------------------------------------------------------------------
# helpers shared by the adapters
# --------------------------------------------------------------------------


def merge_params(params: Mapping | None, defaults: Mapping, method: str) -> dict:
    """The method's parameters: ``defaults`` overridden by ``params``.

    Parameters
    ----------
    params
        User parameters (``method_params.<method>`` in config); ``None`` or
        empty: all defaults.
    defaults
        Every accepted parameter with its default.
    method
        Method name, for error messages.

    Returns
    -------
    dict
        The resolved parameters.

    Raises
    ------
    mima.errors.InputError
        For a parameter the method does not know (a typo would otherwise be
        silently ignored).
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise InputError("config.yaml", f"method_params.{method}", f"unknown parameter(s) {unknown}",
                         f"use only {sorted(defaults)}")
    return {**defaults, **params}


def aligned_modality(mdata, modality: str):
    """``mdata.mod[modality]`` with its cells in ``mdata.obs_names`` order
    (rows are matched by name; a view when already in order).

    Raises
    ------
    mima.errors.InputError
        When the modality is absent or lacks some of the dataset's cells.
    """
    if modality not in mdata.mod:
        raise InputError("<prepared dataset>", f"mod['{modality}']", "absent from the dataset",
                         f"use one of {sorted(mdata.mod)}")
    adata = mdata.mod[modality]
    if adata.obs_names.equals(mdata.obs_names):
        return adata
    missing = mdata.obs_names.difference(adata.obs_names)
    if len(missing) or not adata.obs_names.is_unique:
        raise InputError("<prepared dataset>", f"mod['{modality}'].obs_names",
                         f"{len(missing)} cells of the dataset are missing or names repeat",
                         "prepare the dataset again (every modality must hold every cell once)")
    return adata[mdata.obs_names]


def modality_matrix(mdata, modality: str):
    """Modality ``X`` with its rows in the order of ``mdata.obs_names``.

    Parameters
    ----------
    mdata
        The prepared dataset.
    modality
        Modality name.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        ``X`` (not copied when already in order).

    Raises
    ------
    mima.errors.InputError
        When the modality lacks some of the dataset's cells.
    """
    return aligned_modality(mdata, modality).X


def batch_labels(mdata) -> np.ndarray:
    """``mdata.obs['batch']`` as an array of strings.

    Raises
    ------
    mima.errors.InputError
        When the column is absent or has missing values.
    """
    if "batch" not in mdata.obs:
        raise InputError("<prepared dataset>", "obs['batch']", "absent", "prepare the dataset with a batch key")
    batch = mdata.obs["batch"]
    if batch.isna().any():
        raise InputError("<prepared dataset>", "obs['batch']", f"{int(batch.isna().sum())} cells have no batch",
                         "give every cell a batch (sample / donor)")
    return batch.astype(str).to_numpy()


def canonical_order(mdata) -> np.ndarray:
    """Row indices that sort the cells by name.

    Tools whose random draws depend on the order of the cells (k-means
    starts, random initialisations, nearest-neighbour indices) are run on
    the cells in this order, so that their result does not depend on how
    the cells happen to be ordered in the file; :func:`restore_order` puts
    the rows back.
    """
    return np.argsort(mdata.obs_names.to_numpy(dtype=str), kind="stable")


def restore_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Undo a row reordering: ``out[order] = values``."""
    out = np.empty_like(values)
    out[order] = values
    return out


@contextlib.contextmanager
def limit_threads(threads: int | None):
    """Limit BLAS / OpenMP threads to ``threads`` (no limit for ``None`` or
    < 1, or when threadpoolctl is not installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - every tool env has scikit-learn
        threadpool_limits = None
    if threadpool_limits is None or not threads or threads < 1:
        yield
        return
    with threadpool_limits(limits=int(threads)):
        yield


def train_timed(model, method: str, **train_kwargs) -> None:
    """``model.train(**train_kwargs)`` for an scvi-tools model, logging the
    epochs it ran and the seconds they took.

    The log line (``trained <method>: <E> epochs in <S> s``) is what the
    rehearsal's projection (``benchmarks/rehearsal_table.py``) reads to scale
    a shortened run to the tool's default number of epochs. While it trains,
    :func:`epoch_progress` logs the epochs as they end.
    """
    started = time.perf_counter()
    callbacks = list(train_kwargs.pop("callbacks", [])) + [epoch_progress(method, train_kwargs.get("max_epochs"))]
    model.train(callbacks=callbacks, **train_kwargs)
    seconds = time.perf_counter() - started
    epochs = len(model.history.get("train_loss_epoch", model.history.get("elbo_train", [])))
    logging.getLogger(f"mima.methods.{method}").info(
        "trained %s: %d epochs in %.1f s on %d cells", method, epochs, seconds, model.adata.n_obs)


def epoch_progress(method: str, max_epochs: int | None):
    """A Lightning callback logging an scvi-tools training's epochs as they
    end (:class:`mima.progress.ProgressLog`: ``training <method>: <e> of
    <E> epochs (<s> s), train loss <l>``)."""
    from lightning.pytorch.callbacks import Callback

    from ..progress import ProgressLog

    progress = ProgressLog(logging.getLogger(f"mima.methods.{method}"), f"training {method}", max_epochs, "epochs")

    class EpochProgress(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            if progress.total is None:
                progress.total = trainer.max_epochs
            metrics = trainer.callback_metrics
            loss = next((metrics[k] for k in ("train_loss_epoch", "elbo_train", "train_loss") if k in metrics), None)
            progress.step(trainer.current_epoch + 1, "" if loss is None else f"train loss {float(loss):.5g}",
                          last=trainer.current_epoch + 1 >= (trainer.max_epochs or 0))

    return EpochProgress()
