"""Highly variable feature (HVF) selection, as in the MIMA study.

The study keeps the most variable features, then the most expressed among
those; the order of the two filters matters and is fixed here.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mima.errors import InputError


def select_hvf(X, n_top_variance: int = 2000, n_top_mean: int = 1000) -> np.ndarray:
    """Select highly variable features: top variance first, then top mean.

    Among all features, the ``n_top_variance`` with the largest variance
    are kept; among those, the ``n_top_mean`` with the largest mean.
    Ties are broken by feature index (lower index first). A filter asking
    for more features than it is given keeps them all.

    Parameters
    ----------
    X
        Cells x features, already normalised (dense or scipy sparse;
        sparse input is not densified).
    n_top_variance
        Features kept by the variance filter.
    n_top_mean
        Features kept by the mean filter, applied to the variance-selected ones.

    Returns
    -------
    numpy.ndarray of bool
        Mask over the features, True for the selected ones.
    """
    for name, value in (("n_top_variance", n_top_variance), ("n_top_mean", n_top_mean)):
        if int(value) != value or value < 0:
            raise InputError("select_hvf", name, f"must be a non-negative integer, got {value!r}",
                             "set the HVF counts in config.yaml to non-negative integers")
    mean, variance = feature_mean_var(X)
    by_variance = _top_indices(variance, np.arange(mean.size), int(n_top_variance))
    by_mean = _top_indices(mean, by_variance, int(n_top_mean))
    mask = np.zeros(mean.size, dtype=bool)
    mask[by_mean] = True
    return mask


def feature_mean_var(X) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and population variance (ddof=0) in float64.

    Parameters
    ----------
    X
        Cells x features, dense or scipy sparse. Sparse input is read through
        its stored values only.

    Returns
    -------
    mean, variance : numpy.ndarray
        One value per feature.
    """
    n_cells = X.shape[0]
    if n_cells == 0:
        raise InputError("select_hvf", "X", "has no cells", "select features on a non-empty matrix")
    if sp.issparse(X):
        sums, squares = _sparse_column_sums(X)
    else:
        dense = np.asarray(X, dtype=np.float64)
        sums, squares = dense.sum(axis=0), np.square(dense).sum(axis=0)
    mean = sums / n_cells
    # E[x^2] - E[x]^2 can dip below 0 by rounding for constant features.
    variance = np.maximum(squares / n_cells - mean**2, 0.0)
    return mean, variance


def _sparse_column_sums(X) -> tuple[np.ndarray, np.ndarray]:
    """Column sums of X and of X squared, from the stored values."""
    matrix = X.tocsr()
    if not matrix.has_canonical_format:
        # Duplicate entries must be merged before squaring.
        matrix = matrix.copy()
        matrix.sum_duplicates()
    data = matrix.data.astype(np.float64)
    n_features = matrix.shape[1]
    sums = np.bincount(matrix.indices, weights=data, minlength=n_features)
    squares = np.bincount(matrix.indices, weights=data * data, minlength=n_features)
    return sums, squares


def _top_indices(score: np.ndarray, candidates: np.ndarray, n_top: int) -> np.ndarray:
    """The ``n_top`` candidates with the largest score, ties by lower index."""
    # lexsort sorts by the last key first: descending score, then ascending index.
    order = np.lexsort((candidates, -score[candidates]))
    return candidates[order[:n_top]]
