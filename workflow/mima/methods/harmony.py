"""Harmony (harmonypy) on the PCA of each modality and of the concatenation.

Embeddings (DESIGN §2)
----------------------
``harmony_<m>``
    Harmony-corrected ``pca_<m>`` (cells × k).
``harmony_concat``
    With two or more modalities: Harmony-corrected ``pca_concat``
    (cells × k).

k is the PCA's: min(``n_comps``, n_cells - 1, n_features - 1). The PCA
input is exactly the PCA adapter's (:func:`mima.preprocess.pca.pca_embedding`,
:func:`mima.preprocess.pca.concatenated_pca`, same seed), so the PCR
comparison of scIB has the same baseline. The batch is ``obs['batch']``.
Harmony's k-means starts depend on the order of the cells, so PCA and
Harmony run on the cells sorted by name
(:func:`mima.methods.base.canonical_order`) and the rows are put back in the
order of ``mdata.obs_names``: the result does not depend on the file's cell
order.

Parameters (``method_params.harmony``)
--------------------------------------
``n_comps``
    PCA components (default 100).
``theta``
    Diversity penalty (default 2, harmonypy's default).
``sigma``
    Soft-clustering kernel width (default 0.1).
``nclust``
    Number of clusters (default ``None``: harmonypy's min(n_cells / 30, 100)).
``max_iter_harmony``
    Maximum Harmony rounds (default 10).

harmonypy ≥ 2 returns ``Z_corr`` as cells × dims, earlier versions as
dims × cells (scanpy's wrapper transposes it either way); the adapter
orients it by shape, whatever the version.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..preprocess.pca import concatenated_pca, pca_embedding
from .base import Requirements
from .base import batch_labels, canonical_order, limit_threads, merge_params, modality_matrix, restore_order

__all__ = ["REQUIRES", "DEFAULTS", "run", "version", "harmonize", "cells_by_dims"]

REQUIRES = Requirements(notes="Harmony on pca_<m> and, with ≥ 2 modalities, on pca_concat; batch = obs['batch'].")

DEFAULTS = {"n_comps": 100, "theta": 2.0, "sigma": 0.1, "nclust": None, "max_iter_harmony": 10}


def cells_by_dims(values, n_cells: int, n_dims: int) -> np.ndarray:
    """``values`` oriented cells × dims.

    Parameters
    ----------
    values
        Harmony's ``Z_corr``: cells × dims (harmonypy ≥ 2) or dims × cells
        (earlier versions).
    n_cells, n_dims
        The expected shape.

    Returns
    -------
    numpy.ndarray
        float64, ``(n_cells, n_dims)``.

    Raises
    ------
    ValueError
        When ``values`` has neither orientation.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape == (n_cells, n_dims):
        return values
    if values.shape == (n_dims, n_cells):
        return values.T
    raise ValueError(f"Harmony returned shape {values.shape}, expected ({n_cells}, {n_dims}) or its transpose")


def harmonize(embedding: np.ndarray, batch, seed: int = 0, threads: int = 1, theta: float = 2.0,
              sigma: float = 0.1, nclust: int | None = None, max_iter_harmony: int = 10) -> np.ndarray:
    """Harmony-correct one embedding.

    Parameters
    ----------
    embedding
        Cells × dims (e.g. PCA scores).
    batch
        One batch label per cell.
    seed
        harmonypy's ``random_state``.
    threads
        harmonypy's ``ncores`` (its result does not depend on it).
    theta, sigma, nclust, max_iter_harmony
        harmonypy's parameters of the same names.

    Returns
    -------
    numpy.ndarray
        float64, cells × dims, rows in the order of ``embedding``.
    """
    import harmonypy

    embedding = np.asarray(embedding, dtype=np.float64)
    meta = pd.DataFrame({"batch": np.asarray(batch).astype(str)})
    result = harmonypy.run_harmony(embedding, meta, "batch", theta=theta, sigma=sigma, nclust=nclust,
                                   max_iter_harmony=max_iter_harmony, verbose=False, random_state=seed,
                                   ncores=max(int(threads or 1), 1))
    return cells_by_dims(result.Z_corr, *embedding.shape)


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """Harmony embeddings of a prepared dataset.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2), with ``obs['batch']``.
    modalities
        Modalities to embed.
    params
        ``n_comps``, ``theta``, ``sigma``, ``nclust``, ``max_iter_harmony``
        (see the module docstring).
    seed
        Seed of the PCA and of Harmony.
    threads
        Threads for BLAS and Harmony.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``harmony_<m>`` per modality and ``harmony_concat`` for two or more
        modalities; float32, cells × k in the order of ``mdata.obs_names``.
    """
    options = merge_params(params, DEFAULTS, "harmony")
    n_comps = options.pop("n_comps")
    order = canonical_order(mdata)
    batch = batch_labels(mdata)[order]
    matrices = {m: modality_matrix(mdata, m)[order] for m in modalities}
    out = {}
    with limit_threads(threads):
        inputs = {m: pca_embedding(X, n_comps, seed) for m, X in matrices.items()}
        if len(matrices) >= 2:
            inputs["concat"] = concatenated_pca(list(matrices.values()), n_comps, seed)
        for name, embedding in inputs.items():
            corrected = harmonize(embedding, batch, seed, threads, **options)
            out[f"harmony_{name}"] = restore_order(corrected, order).astype(np.float32)
    return out


def version() -> str:
    """harmonypy's version."""
    from importlib.metadata import version as dist_version

    return dist_version("harmonypy")
