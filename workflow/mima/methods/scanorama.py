"""Scanorama: panorama stitching of the batches of each modality.

Embeddings (DESIGN §2)
----------------------
``scanorama_<m>``
    Scanorama's integrated embedding of modality ``m`` (cells × k).

k = min(``dimred``, n_cells - 1, n_features - 1) (the same cap as PCA).
Scanorama has no joint (multimodal) embedding.

Cells are split by ``obs['batch']`` (one Scanorama data set per batch, in the
sorted order of the batch names), ``scanorama.integrate`` L2-normalises
each cell, reduces all cells together to k dimensions (randomized PCA) and
stitches the batches through mutual nearest neighbours; the integrated
embeddings are then put back in the order of ``mdata.obs_names``. Within a
batch, cells are given to Scanorama sorted by name
(:func:`mima.methods.base.canonical_order`), so the result does not depend on
the file's cell order. With one batch, the result is Scanorama's PCA.

Parameters (``method_params.scanorama``)
----------------------------------------
``dimred``
    Embedding dimensions (default 100).
``knn``
    Nearest neighbours for matching (default 20, Scanorama's).
``sigma``
    Correction smoothing (default 15).
``alpha``
    Alignment score cutoff (default 0.1).
``approx``
    Approximate nearest neighbours with annoy (default ``True``).
``batch_size``
    Cells per block of the correction (default 5000).

Scanorama draws from numpy's global generator (fbpca) and Python's
``random``; both are seeded with ``seed`` before the call, and Scanorama's
own ``seed`` is set too.
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np
import scipy.sparse as sp

from ..preprocess.pca import n_components
from .base import Requirements
from .base import batch_labels, canonical_order, limit_threads, merge_params, modality_matrix, restore_order

__all__ = ["REQUIRES", "DEFAULTS", "run", "version", "integrate_modality"]

REQUIRES = Requirements(notes="Scanorama per modality, batches = obs['batch']; no joint embedding.")

DEFAULTS = {"dimred": 100, "knn": 20, "sigma": 15.0, "alpha": 0.1, "approx": True, "batch_size": 5000}

log = logging.getLogger(__name__)


def _split_by_batch(X, batch) -> tuple[list, list[np.ndarray]]:
    """Rows of ``X`` per batch (sorted batch names) as CSR matrices, and each
    batch's row indices."""
    X = sp.csr_matrix(X, dtype=np.float64)  # scanorama accepts csr_matrix (not csr_array) or ndarray
    indices = [np.flatnonzero(batch == name) for name in np.unique(batch)]
    return [X[idx] for idx in indices], indices


def integrate_modality(X, batch, seed: int = 0, dimred: int = 100, **options) -> np.ndarray:
    """Scanorama's integrated embedding of one modality.

    Parameters
    ----------
    X
        Cells × features (dense or sparse). Every batch has the same
        features, so Scanorama gets positional feature names (its own names
        would drop duplicated ones).
    batch
        One batch label per cell.
    seed
        Seed of numpy's global generator, Python's ``random`` and Scanorama.
    dimred
        Dimensions wanted; capped at min(n_cells, n_features) - 1.
    **options
        ``knn``, ``sigma``, ``alpha``, ``approx``, ``batch_size`` of
        ``scanorama.integrate``.

    Returns
    -------
    numpy.ndarray
        float64, cells × k, rows in the order of ``X``.
    """
    import random

    import scanorama

    k = n_components(X.shape, dimred)
    datasets, indices = _split_by_batch(X, np.asarray(batch).astype(str))
    genes = [[f"f{j:09d}" for j in range(X.shape[1])]] * len(datasets)
    np.random.seed(seed)
    random.seed(seed)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # merge_datasets prints even when not verbose
        integrated, _ = scanorama.integrate(datasets, genes, dimred=k, seed=seed, verbose=False, **options)
    log.debug("scanorama: %s", printed.getvalue().strip())
    out = np.empty((X.shape[0], k), dtype=np.float64)
    for idx, values in zip(indices, integrated):
        out[idx] = values
    return out


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """Scanorama embeddings of a prepared dataset.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2), with ``obs['batch']``.
    modalities
        Modalities to embed.
    params
        ``dimred``, ``knn``, ``sigma``, ``alpha``, ``approx``,
        ``batch_size`` (see the module docstring).
    seed
        Seed of every random draw.
    threads
        BLAS threads.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``scanorama_<m>`` per modality; float32, cells × k in the order of
        ``mdata.obs_names``.
    """
    options = merge_params(params, DEFAULTS, "scanorama")
    order = canonical_order(mdata)
    batch = batch_labels(mdata)[order]
    out = {}
    with limit_threads(threads):
        for m in modalities:
            X = modality_matrix(mdata, m)[order]
            integrated = integrate_modality(X, batch, seed, **options)
            out[f"scanorama_{m}"] = restore_order(integrated, order).astype(np.float32)
    return out


def version() -> str:
    """Scanorama's version."""
    from importlib.metadata import version as dist_version

    return dist_version("scanorama")
