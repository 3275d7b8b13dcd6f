"""PCA baseline: PCA of each modality and of the concatenated modalities.

Embeddings (DESIGN §2)
----------------------
``pca_<m>``
    PCA scores of modality ``m``'s ``X`` (cells × k).
``pca_concat``
    With two or more modalities: PCA scores of the modalities side by side,
    each first centred and scaled to a total variance of 1, so that no
    modality dominates through its number of features (cells × k).

k = min(``n_comps``, n_cells - 1, n_features - 1), where n_features is the
modality's (or the concatenation's) number of features. Scores are
``U · S`` (the projection of the centred data on the components), with
scikit-learn's deterministic sign convention.

Parameters (``method_params.pca``)
----------------------------------
``n_comps``
    Number of components (default 100).

Sparse input is never densified: scikit-learn's PCA (≥ 1.4) centres sparse
matrices implicitly and runs ARPACK on them; dense input uses its ``auto``
solver (exact, or randomized seeded with ``seed``).

Harmony reuses :func:`pca_embedding` and :func:`concatenated_pca`; the
module imports only numpy and scipy at the top, so other adapters can import
it in their own environments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .base import Requirements, limit_threads, merge_params, modality_matrix

__all__ = [
    "REQUIRES",
    "DEFAULTS",
    "run",
    "version",
    "pca_embedding",
    "concatenated_pca",
    "n_components",
    "column_variance",
]

REQUIRES = Requirements(notes="PCA of each modality's X; pca_concat of the variance-balanced concatenation (≥ 2 modalities).")

DEFAULTS = {"n_comps": 100}


def column_variance(X) -> np.ndarray:
    """Variance (ddof 0) of each column of a dense or sparse matrix, without
    densifying it."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        mean = np.asarray(X.mean(axis=0)).ravel()
        mean_sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        return np.maximum(mean_sq - mean**2, 0.0)
    return np.asarray(X, dtype=np.float64).var(axis=0)


# --------------------------------------------------------------------------
# PCA
# --------------------------------------------------------------------------


def n_components(shape: tuple[int, int], n_comps: int) -> int:
    """Components PCA can give: min(``n_comps``, n_cells - 1, n_features - 1).

    Raises
    ------
    mima.errors.InputError
        When fewer than one component is possible or ``n_comps`` < 1.
    """
    if int(n_comps) < 1:
        raise InputError("config.yaml", "method_params n_comps", f"{n_comps} < 1", "ask for at least one component")
    k = min(int(n_comps), shape[0] - 1, shape[1] - 1)
    if k < 1:
        raise InputError("<prepared dataset>", "X", f"a {shape[0]} × {shape[1]} matrix has no principal component",
                         "give PCA at least 2 cells and 2 features")
    return k


def _float64(X):
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


def pca_embedding(X, n_comps: int = 100, seed: int = 0) -> np.ndarray:
    """PCA scores of one matrix.

    Parameters
    ----------
    X
        Cells × features, dense or sparse (sparse stays sparse: it is centred
        implicitly and decomposed with ARPACK).
    n_comps
        Components wanted; capped at min(n_cells, n_features) - 1.
    seed
        ``random_state`` of the solver (ARPACK start vector / randomized SVD).

    Returns
    -------
    numpy.ndarray
        float64, cells × k, the projection of the centred data on the
        components (``U · S``).
    """
    from sklearn.decomposition import PCA

    X = _float64(X)
    k = n_components(X.shape, n_comps)
    solver = "arpack" if sp.issparse(X) else "auto"
    return PCA(n_components=k, svd_solver=solver, random_state=seed).fit_transform(X)


def balanced_concatenation(matrices: Sequence):
    """Modalities side by side, each scaled to a total variance of 1.

    Scaling by one number per modality commutes with centring, so the
    centring is left to PCA and sparse input stays sparse. A modality with no
    variance is left unscaled.

    Parameters
    ----------
    matrices
        Cells × features matrices with the same cells in the same order.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        float64, cells × (sum of features); sparse when any input is sparse.
    """
    scaled = []
    for X in matrices:
        X = _float64(X)
        total = column_variance(X).sum()
        scaled.append(X * (1.0 / np.sqrt(total)) if total > 0 else X)
    if any(sp.issparse(X) for X in scaled):
        return sp.hstack([sp.csr_matrix(X) for X in scaled], format="csr")
    return np.hstack(scaled)


def concatenated_pca(matrices: Sequence, n_comps: int = 100, seed: int = 0) -> np.ndarray:
    """PCA of the variance-balanced concatenation of several modalities.

    Parameters
    ----------
    matrices
        Cells × features matrices (dense or sparse), same cells, same order.
    n_comps, seed
        As for :func:`pca_embedding`.

    Returns
    -------
    numpy.ndarray
        float64, cells × k.
    """
    if len({X.shape[0] for X in matrices}) != 1:
        raise InputError("<prepared dataset>", "X", f"modalities have different numbers of cells {[X.shape[0] for X in matrices]}",
                         "prepare the dataset again (every modality must hold every cell)")
    return pca_embedding(balanced_concatenation(matrices), n_comps, seed)


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """PCA embeddings of a prepared dataset.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2).
    modalities
        Modalities to embed.
    params
        ``n_comps`` (default 100).
    seed
        Solver seed.
    threads
        BLAS threads.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``pca_<m>`` per modality and ``pca_concat`` for two or more
        modalities; float32, cells × k in the order of ``mdata.obs_names``.
    """
    options = merge_params(params, DEFAULTS, "pca")
    modalities = list(modalities)
    matrices = {m: modality_matrix(mdata, m) for m in modalities}
    out = {}
    with limit_threads(threads):
        for m, X in matrices.items():
            out[f"pca_{m}"] = pca_embedding(X, options["n_comps"], seed).astype(np.float32)
        if len(matrices) >= 2:
            out["pca_concat"] = concatenated_pca(list(matrices.values()), options["n_comps"], seed).astype(np.float32)
    return out


def version() -> str:
    """scikit-learn's version."""
    from importlib.metadata import version as dist_version

    return dist_version("scikit-learn")
