"""Clustering metrics: ``kmeans_nmi`` / ``kmeans_ari`` and ``leiden_nmi`` /
``leiden_ari``, as defined in scib-metrics 0.5.10 (see
:mod:`mima.evaluate.scib`). Both are re-implemented for speed and give
scib-metrics' clusterings.

**KMeans** (:func:`kmeans_labels`; k-means++, k = number of labels, one
initialisation): scib-metrics' jax ``KMeans`` always runs its 300 Lloyd
iterations. Lloyd's algorithm is deterministic once initialised, and an
assignment that repeats is a fixed point: every later iteration returns the
same centroids and labels. So the same k-means++ initialisation
(scib-metrics' own, same jax key) followed by Lloyd iterations that stop at
the fixed point gives scib-metrics' clustering (if no fixed point is
reached, its 300-iteration / tolerance rule stops the loop).

**Leiden** (:func:`leiden_nmi_ari`; on the 15-NN UMAP connectivities,
resolution 0.2, 0.4, ..., 2.0 chosen by NMI; Leiden is *on* here although it
is off by default in the ``Benchmarker``): the igraph graph is built once
(the same construction as scib-metrics: directed weighted adjacency, then
every edge kept as undirected) instead of once per resolution, igraph's RNG
is re-seeded before each resolution exactly as scib-metrics does, and the
ten resolutions run in ``n_jobs`` processes (from 50,000 cells on; below,
starting processes costs more than it saves). Same clusterings.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Sequence

import numba
import numpy as np

from . import workers

log = logging.getLogger(__name__)

#: Leiden resolutions scanned (scib-metrics': 0.2, 0.4, ..., 2.0).
LEIDEN_RESOLUTIONS = tuple(2 * x / 10 for x in range(1, 11))
#: scib-metrics' ``KMeans`` defaults.
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4


# --------------------------------------------------------------------------
# KMeans
# --------------------------------------------------------------------------


def _assign(X: np.ndarray, sq: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, float]:
    """Nearest centroid of every row and the inertia of that assignment."""
    d2 = X @ centroids.T
    d2 *= -2.0
    d2 += sq[:, None]
    d2 += np.einsum("ij,ij->i", centroids, centroids)[None, :]
    assigned = d2.argmin(axis=1)
    inertia = float(np.maximum(d2[np.arange(len(X)), assigned], 0.0).sum())
    return assigned, inertia


@numba.njit(cache=True)
def _cluster_sums(X, assigned, n_clusters):  # pragma: no cover - compiled
    """Sum of the rows of ``X`` per cluster."""
    sums = np.zeros((n_clusters, X.shape[1]))
    for i in range(X.shape[0]):
        sums[assigned[i]] += X[i]
    return sums


def _centroids(X: np.ndarray, assigned: np.ndarray, n_clusters: int) -> np.ndarray:
    """Cluster means; an empty cluster's centroid is the zero vector (the
    data mean, as the data are centred), as in scib-metrics."""
    counts = np.bincount(assigned, minlength=n_clusters)
    return _cluster_sums(X, assigned, n_clusters) / np.maximum(counts, 1)[:, None]


def kmeans_labels(X, n_clusters: int, seed: int = 0, max_iter: int = KMEANS_MAX_ITER,
                  tol: float = KMEANS_TOL) -> np.ndarray:
    """scib-metrics' ``KMeans(n_clusters, seed=seed).fit(X).labels_``, stopped
    at Lloyd's fixed point.

    The input is cast to float32 and centred and the centroids initialised
    by scib-metrics' own k-means++ (``n_init=1``: the first key of
    ``jax.random.split(PRNGKey(seed), 1)``), exactly as in its ``fit``. Then
    Lloyd iterations (float64 here) run until an assignment repeats -- a
    fixed point, which every further iteration of scib-metrics' loop would
    keep -- or, failing that, until scib-metrics' own rule stops them: at
    least ``max_iter`` iterations and an inertia change of at most
    ``tol`` times the mean feature variance.

    Parameters
    ----------
    X
        Array of shape ``(n_cells, n_dims)``.
    n_clusters
        k.
    seed
        Seed of the jax key.
    max_iter, tol
        scib-metrics' ``KMeans`` parameters.

    Returns
    -------
    numpy.ndarray
        Cluster of each cell, shape ``(n_cells,)``.
    """
    import jax
    from scib_metrics.utils._kmeans import _initialize_plus_plus

    X32 = np.array(X, dtype=np.float32, order="C", copy=True)
    tol_abs = float(np.mean(np.var(X32, axis=0)) * tol)
    X32 -= X32.mean(axis=0)
    key = jax.random.split(jax.random.PRNGKey(int(seed)), 1)[0]
    centroids = np.asarray(_initialize_plus_plus(X32, int(n_clusters), key), dtype=np.float64)
    Xd = X32.astype(np.float64)
    sq = np.einsum("ij,ij->i", Xd, Xd)
    previous, previous_inertia = None, np.inf
    for n_iter in itertools.count(1):
        assigned, inertia = _assign(Xd, sq, centroids)
        if previous is not None and np.array_equal(assigned, previous):
            return assigned
        centroids = _centroids(Xd, assigned, n_clusters)
        if n_iter >= max_iter and abs(previous_inertia - inertia) <= tol_abs:
            break
        if n_iter >= 10 * max_iter:  # scib-metrics would loop on; cap a cycling assignment
            log.warning("scIB: KMeans did not settle after %d iterations", n_iter)
            break
        previous, previous_inertia = assigned, inertia
    return _assign(Xd, sq, centroids)[0]


def kmeans_nmi_ari(X, labels, seed: int = 0) -> dict[str, float]:
    """scib-metrics' ``nmi_ari_cluster_labels_kmeans`` with a seed.

    k = number of labels; :func:`kmeans_labels` clusters (``seed=0`` is
    scib-metrics' fixed seed); NMI (arithmetic normalisation) and ARI from
    scikit-learn, as in scib-metrics.

    Parameters
    ----------
    X
        Array of shape ``(n_cells, n_dims)``.
    labels
        Array of shape ``(n_cells,)``.
    seed
        Seed of the jax random key.

    Returns
    -------
    dict
        ``{"nmi": ..., "ari": ...}``.
    """
    from sklearn.metrics.cluster import adjusted_rand_score, normalized_mutual_info_score

    pred = kmeans_labels(X, len(np.unique(labels)), seed=seed)
    return {
        "nmi": float(normalized_mutual_info_score(labels, pred, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(labels, pred)),
    }


# --------------------------------------------------------------------------
# Leiden
# --------------------------------------------------------------------------


def _leiden_graph(connectivities):
    """The igraph graph scib-metrics clusters: a directed weighted adjacency
    graph (edges in the matrix's COO order), each edge then kept as an
    undirected one. Built from arrays -- igraph's ``Weighted_Adjacency``
    loops over NumPy scalars in Python -- with the same edges and order."""
    import igraph

    coo = connectivities.tocoo()
    graph = igraph.Graph(n=coo.shape[0], edges=list(zip(coo.row.tolist(), coo.col.tolist())), directed=True,
                         edge_attrs={"weight": coo.data.tolist()})
    graph.to_undirected(mode="each")
    return graph


def _leiden_scores(graph, labels, resolutions: Sequence[float], seed: int) -> list[tuple[float, float]]:
    """NMI and ARI of the Leiden clustering at each resolution, igraph's RNG
    re-seeded before each run (as scib-metrics does)."""
    import igraph
    from sklearn.metrics.cluster import adjusted_rand_score, normalized_mutual_info_score

    scores = []
    try:
        for resolution in resolutions:
            igraph.set_random_number_generator(random.Random(seed))
            clusters = graph.community_leiden(objective_function="modularity", weights="weight",
                                              resolution=resolution).membership
            scores.append((float(normalized_mutual_info_score(labels, clusters, average_method="arithmetic")),
                           float(adjusted_rand_score(labels, clusters))))
    finally:
        igraph.set_random_number_generator(random)
    return scores


def leiden_nmi_ari(nn, labels, seed: int = 0, n_jobs: int = 1) -> dict[str, float]:
    """scib-metrics' ``nmi_ari_cluster_labels_leiden(nn, labels, seed=seed)``.

    Leiden (modularity, igraph) on the UMAP connectivities of ``nn`` at
    each resolution of :data:`LEIDEN_RESOLUTIONS`; the NMI and ARI of the
    resolution with the highest NMI (the first one on ties).

    Parameters
    ----------
    nn
        ``NeighborsResults`` (scib-metrics), e.g. the 15-NN prefix.
    labels
        Array of shape ``(n_cells,)``.
    seed
        Seed of igraph's RNG.
    n_jobs
        Processes sharing the resolutions (1 below 50,000 cells).

    Returns
    -------
    dict
        ``{"nmi": ..., "ari": ...}``.
    """
    graph = _leiden_graph(nn.knn_graph_connectivities)
    labels = np.asarray(labels)
    n_jobs = min(n_jobs if nn.n_samples >= workers.PARALLEL_MIN_CELLS else 1, len(LEIDEN_RESOLUTIONS))
    shares = [LEIDEN_RESOLUTIONS[i::n_jobs] for i in range(n_jobs)]
    results = workers.parallel(_leiden_scores, [(graph, labels, share, int(seed)) for share in shares], n_jobs)
    by_resolution = dict(zip(itertools.chain(*shares), itertools.chain(*results)))
    scores = np.array([by_resolution[r] for r in LEIDEN_RESOLUTIONS])
    best = int(np.argmax(scores[:, 0]))
    return {"nmi": float(scores[best, 0]), "ari": float(scores[best, 1])}
