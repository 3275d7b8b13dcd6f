"""PCA of a dense on-disk matrix read a block of rows at a time
(:class:`mima.data.h5_layers.LayerRows`), for the UMAPs of MIMA's outputs.

A matrix whose float64 copy fits ``memory_mb`` is read whole and goes to
:func:`mima.preprocess.pca.pca_embedding`: the same numbers as before. A
larger one is decomposed as scikit-learn's PCA decomposes it (its ``auto``
solver picks the randomized SVD for such shapes): the same seeded
randomized SVD (``sklearn.utils.extmath._randomized_svd``, the same
oversampling, power iterations, normaliser and sign flip), run on a linear
operator that multiplies the implicitly centred matrix block by block. The
result equals scikit-learn's up to float64 rounding of the block sums;
memory is a block plus a few cells × (k + 10) and features × (k + 10)
matrices.
"""

from __future__ import annotations

import numpy as np

from .pca import n_components, pca_embedding


def _centred_operator(layer, block_rows: int):
    """(X - mean) as a scipy LinearOperator over ``layer``'s blocks, and the mean."""
    from scipy.sparse.linalg import LinearOperator

    n, d = layer.shape
    total = np.zeros(d)
    for _, _, block in layer.blocks(block_rows):
        total += block.sum(axis=0, dtype=np.float64)
    mean = total / n

    def matmat(q):
        q = np.asarray(q, dtype=np.float64).reshape(d, -1)
        out = np.empty((n, q.shape[1]))
        shift = mean @ q
        for start, stop, block in layer.blocks(block_rows):
            out[start:stop] = block.astype(np.float64) @ q - shift
        return out

    def rmatmat(y):
        y = np.asarray(y, dtype=np.float64).reshape(n, -1)
        out = np.zeros((d, y.shape[1]))
        for start, stop, block in layer.blocks(block_rows):
            out += block.astype(np.float64).T @ y[start:stop]
        return out - np.outer(mean, y.sum(axis=0))

    operator = LinearOperator((n, d), matvec=matmat, rmatvec=rmatmat, matmat=matmat, rmatmat=rmatmat,
                              dtype=np.float64)
    return operator, mean


def uses_randomized_svd(shape: tuple[int, int], k: int) -> bool:
    """Whether scikit-learn's ``auto`` solver takes the randomized SVD for a
    dense matrix of ``shape`` and ``k`` components."""
    n, d = shape
    if d <= 1000 and n >= 10 * d:
        return False  # covariance_eigh
    if max(n, d) <= 500:
        return False  # full
    return 1 <= k < 0.8 * min(n, d)


def streaming_pca(layer, n_comps: int = 50, seed: int = 0, memory_mb: float = 1024) -> np.ndarray:
    """PCA scores (cells × k, float64) of an on-disk dense matrix.

    Parameters
    ----------
    layer
        A :class:`mima.data.h5_layers.LayerRows`.
    n_comps, seed
        As for :func:`mima.preprocess.pca.pca_embedding`.
    memory_mb
        Below this size (as float64) the matrix is read whole and
        :func:`~mima.preprocess.pca.pca_embedding` runs on it; above it,
        and where scikit-learn would not use the randomized SVD, the
        matrix is read whole all the same (not reached at the study's
        shapes: such matrices have at most 1,000 features or 500 cells).
    """
    from sklearn.utils.extmath import _randomized_svd, svd_flip

    n, d = layer.shape
    k = n_components((n, d), n_comps)
    if n * d * 8 <= memory_mb * 2**20 or not uses_randomized_svd((n, d), k):
        return pca_embedding(layer.read(), n_comps, seed)
    block_rows = max(1, int(memory_mb * 2**20) // (16 * d))
    operator, _ = _centred_operator(layer, block_rows)
    u, s, vt = _randomized_svd(operator, n_components=k, n_oversamples=10, n_iter="auto",
                               power_iteration_normalizer="auto", flip_sign=False, random_state=seed)
    u, vt = svd_flip(u, vt, u_based_decision=False)
    return u[:, :k] * s[:k]
