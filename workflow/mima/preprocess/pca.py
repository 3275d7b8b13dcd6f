"""PCA computations shared by the PCA baseline, Harmony, MOFA+, Scanorama,
the UMAP plots and the translation tables.

``pca_embedding``
    PCA scores of one matrix (cells × k).
``concatenated_pca``
    PCA scores of several modalities side by side, each first centred and
    scaled to a total variance of 1 (:func:`balanced_concatenation`), so that
    no modality dominates through its number of features.

k = min(``n_comps``, n_cells - 1, n_features - 1) (:func:`n_components`).
Scores are ``U · S`` (the projection of the centred data on the
components), with scikit-learn's deterministic sign convention.

Sparse input is never densified: scikit-learn's PCA (≥ 1.4) centres sparse
matrices implicitly and runs ARPACK on them; dense input uses its ``auto``
solver (exact, or randomized seeded with ``seed``).

The module imports only numpy and scipy at the top (scikit-learn inside the
functions), so every tool's environment can import it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import InputError

__all__ = [
    "pca_embedding",
    "concatenated_pca",
    "balanced_concatenation",
    "n_components",
    "column_variance",
]


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
