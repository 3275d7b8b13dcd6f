"""Neighbours of an embedding, computed **once per embedding** by
:func:`compute_neighbors` (exact euclidean kNN, 90 neighbours including
the cell itself) and reused by every kNN metric as prefixes
(:func:`first_neighbors`: 15, 50, 90 as in scib-metrics 0.5.10's
``Benchmarker``).

The ``Benchmarker`` uses pynndescent (approximate); exact search is
deterministic and needs no numba compilation, so it is the default at every
size (``method="pynndescent"`` gives the ``Benchmarker``'s search). When
cells are excluded from the bio metrics, the bio kNN metrics (Leiden,
cLISI) need the kNN graph *of the kept cells*, computed once more on that
subset (see :mod:`mima.evaluate.scib.raw`).
"""

from __future__ import annotations

import numpy as np


def as_matrix(embedding) -> np.ndarray:
    """A dense, finite, C-ordered float64 copy of a 2-D embedding."""
    X = np.array(embedding, dtype=np.float64, order="C", copy=True)
    if X.ndim != 2:
        raise ValueError(f"embedding must be 2-D (cells x dimensions), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("embedding has NaN or infinite values")
    return X


def compute_neighbors(embedding, n_neighbors: int = 90, seed: int = 0, method: str = "exact"):
    """k nearest neighbours of every cell, computed once per embedding.

    Parameters
    ----------
    embedding
        Array of shape ``(n_cells, n_dims)``.
    n_neighbors
        Neighbours per cell, the cell itself included (as scib-metrics
        expects); capped at ``n_cells``. 90 is the largest size scib-metrics'
        ``Benchmarker`` uses (LISI); smaller sizes are prefixes of this list.
    seed
        Random state of the pynndescent search (exact search is
        deterministic and ignores it).
    method
        ``"exact"`` (default): brute-force euclidean kNN with scikit-learn in
        float64 (distance matrix built in row chunks by scikit-learn, so
        memory stays bounded); the cell itself is put first with distance
        exactly 0. ``"pynndescent"``: scib-metrics' own approximate search,
        as in its ``Benchmarker``.

    Returns
    -------
    scib_metrics.nearest_neighbors.NeighborsResults
        ``indices`` (int32) and ``distances`` (float32), shape
        ``(n_cells, k)``, sorted by distance, column 0 the cell itself.
    """
    from scib_metrics.nearest_neighbors import NeighborsResults, pynndescent

    X = as_matrix(embedding)
    n = X.shape[0]
    k = min(int(n_neighbors), n)
    if k < 2:
        raise ValueError(f"need at least 2 cells and n_neighbors >= 2 (cells: {n}, n_neighbors: {n_neighbors})")
    if method == "pynndescent":
        return pynndescent(X.astype(np.float32), n_neighbors=k, random_state=int(seed), n_jobs=1)
    if method != "exact":
        raise ValueError(f"method must be 'exact' or 'pynndescent', got {method!r}")
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k - 1, algorithm="brute", metric="euclidean").fit(X)
    dist, idx = nn.kneighbors()  # X=None: the query cell itself is left out
    idx = np.hstack([np.arange(n)[:, None], idx]).astype(np.int32)
    dist = np.hstack([np.zeros((n, 1)), dist]).astype(np.float32)
    return NeighborsResults(indices=idx, distances=dist)


def first_neighbors(nn, k: int):
    """The first ``k`` neighbours of every cell of ``nn`` (``nn`` itself when
    it has no more than ``k``)."""
    return nn if k >= nn.n_neighbors else nn.subset_neighbors(k)
