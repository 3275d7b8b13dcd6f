"""scIB metrics of an embedding (DESIGN §4), as pure functions of
``(embedding, labels, batch)``.

Definitions follow **scib-metrics 0.5.10** -- the newest release that
installs on Python 3.11 and keeps the study's definitions (the study used
0.5.3) -- with one deliberate pre-0.5.6 choice: the batch silhouette is
scIB's "silhouette batch", **not BRAS**, which replaced it as the
``Benchmarker`` default in 0.5.6.

Bio conservation (:data:`BIO_METRICS`, on cells whose label is not in
``exclude_labels``)
    ``isolated_labels`` (silhouette-based), ``leiden_nmi`` / ``leiden_ari``
    (Leiden on the 15-NN UMAP connectivities, resolution 0.2, 0.4, ..., 2.0
    chosen by NMI; Leiden is *on* here although it is off by default in the
    ``Benchmarker``), ``kmeans_nmi`` / ``kmeans_ari`` (k-means++, k = number
    of labels, one initialisation), ``silhouette_label`` and ``clisi``
    (90-NN).
Batch correction (:data:`BATCH_METRICS`, on all cells)
    ``silhouette_batch``, ``ilisi`` (90-NN), ``kbet`` (per label, 50-NN
    connectivities), ``graph_connectivity`` (15-NN graph) and
    ``pcr_comparison`` (against ``baseline``, categorical batch).

How each metric is computed
---------------------------
cLISI, iLISI, graph connectivity and PCR comparison are scib-metrics' own
functions. The others are re-implemented here for speed -- same definitions,
same inputs, tested against scib-metrics' functions within 1e-3 (most agree
to 1e-6 or exactly) -- because scib-metrics' versions are what made one
90,000-cell embedding take 23 minutes on two cores:

- **Silhouettes** (:func:`silhouette_samples`; ``silhouette_label``,
  ``isolated_labels``, ``silhouette_batch``): scib-metrics builds distances
  with an element-wise jax loop (and re-compiles it for every label of the
  batch silhouette). Here cells are sorted by cluster and centred, each
  block of the upper triangle of the distance matrix is one float32 matrix
  product (squared norms in float64), and a compiled pass (numba) turns it
  into distances and adds them, in float64, to the per-cluster sums of both
  its rows and its columns -- every distance is computed once. Pairs whose
  squared distance is under 1e-3 of their summed squared norms, where the
  product's rounding would dominate, get the exact difference instead
  (duplicates are exactly 0 apart). Memory: one
  2,048 x 8,192 block (64 MB). The label silhouette is computed once and
  shared by ``silhouette_label`` and ``isolated_labels``.
- **KMeans** (:func:`kmeans_labels`): scib-metrics' jax ``KMeans`` always
  runs its 300 Lloyd iterations. Lloyd's algorithm is deterministic once
  initialised, and an assignment that repeats is a fixed point: every later
  iteration returns the same centroids and labels. So the same k-means++
  initialisation (scib-metrics' own, same jax key) followed by Lloyd
  iterations that stop at the fixed point gives scib-metrics' clustering
  (if no fixed point is reached, its 300-iteration / tolerance rule stops
  the loop).
- **Leiden** (:func:`leiden_nmi_ari`): the igraph graph is built once (the
  same construction as scib-metrics: directed weighted adjacency, then
  every edge kept as undirected) instead of once per resolution, igraph's
  RNG is re-seeded before each resolution exactly as scib-metrics does, and
  the ten resolutions run in ``n_jobs`` processes (from 50,000 cells on;
  below, starting processes costs more than it saves). Same clusterings.
- **kBET** (:func:`kbet_per_label`): per label, scib-metrics takes the
  label's sub-graph of the 50-NN connectivities, embeds it with a diffusion
  map (100 eigenvectors of the symmetric transition matrix, ARPACK) and
  looks up each cell's k0 + 1 nearest neighbours there with pynndescent,
  then runs a chi-square test per cell. Here: the same sub-graphs, rules
  (fewer than 10 cells or one batch: skipped; k0; connected components and
  the 75 % rule) and diffusion map, but (1) the neighbours in diffusion
  space are the **exact** ones (a matrix product; pynndescent approximates
  them and its numba compilation alone took ~50 s), (2) ARPACK runs
  single-threaded per label with a seeded start vector (multi-threaded BLAS
  on these small products was several times slower on two cores), labels
  in ``n_jobs`` processes from 50,000 cells on, and (3) the test is vectorised NumPy/SciPy
  (scib-metrics re-compiles a jax function for every label). One
  scib-metrics quirk is kept on purpose: the number of diffusion components
  is ``min(100, n - 1)`` over the labels processed *so far* (scib-metrics
  overwrites its argument inside the loop), so a small label lowers it for
  every later label.

Neighbours are computed **once per embedding** by :func:`compute_neighbors`
(exact euclidean kNN, 90 neighbours including the cell itself) and reused
by every kNN metric as prefixes (15, 50, 90 as in the ``Benchmarker``). The
``Benchmarker`` uses pynndescent (approximate); exact search is
deterministic and needs no numba compilation, so it is the default at every
size (``method="pynndescent"`` gives the ``Benchmarker``'s search). When
cells are excluded from the bio metrics, the bio kNN metrics (Leiden,
cLISI) need the kNN graph *of the kept cells*, computed once more on that
subset.

Threads: ``n_jobs`` caps BLAS / OpenMP (threadpoolctl) and numba threads
of the process and is the number of worker processes of kBET and Leiden
(their workers use one BLAS thread each; kBET's ARPACK always runs on one).
jax (LISI, PCR, the k-means++ initialisation) keeps its own thread pool.
The pipeline passes the rule's ``threads``.

Measured on 2 shared cores (``benchmarks/scib_large.py``, 90,000 x 100, 30
labels, 12 batches): about 1 minute per embedding after a ~10 s one-off
warm-up (kNN search 21 s, Leiden 12 s, label silhouette 11 s, kBET 6 s,
KMeans 3 s), peak RSS 1.7 GB; the previous implementation (scib-metrics'
own KMeans, kBET and batch silhouette) took 3 minutes and 3.9 GB on the
same data at the same load (6 minutes under heavier load).

Seeds: ``seed`` seeds KMeans (jax key), Leiden (igraph's RNG), kBET's ARPACK
start vector and, with ``method="pynndescent"``, the neighbour search. The
same input gives the same numbers, whatever ``n_jobs``.

Excluded labels: cells whose label (case-insensitive) is in
``exclude_labels``, or is missing, are left out of the bio metrics only; the
batch metrics use all cells, and the label-aware ones (``silhouette_batch``,
``kbet``, ``graph_connectivity``) treat an excluded label as one more group.

Metrics that cannot be computed are NaN in :func:`scib_raw`'s result, with a
logged notice saying why (the scIB table leaves them out, see
:mod:`mima.evaluate.scib_tables`):

- no labels (``labels`` None, e.g. the dataset has no label column), or
  fewer than two labels left after exclusion: every bio metric; with no
  labels also ``silhouette_batch``, ``kbet`` and ``graph_connectivity``
  (they work within labels). ``ilisi`` and ``pcr_comparison`` still run.
- one batch: every batch metric -- they score the mixing of batches and
  there is none to score (iLISI and PCR comparison would divide by zero,
  kBET and the batch silhouette skip every label, graph connectivity would
  only restate how connected the labels are). Bio metrics still run.
- no ``baseline``: ``pcr_comparison``.
- ``kbet`` when every label is skipped (one batch or fewer than 10 cells);
  ``silhouette_batch`` when no label spans two batches.

Table ``results/{dataset}/tables/scib.tsv`` (long format, one dataset):
columns ``dataset, method, embedding, metric, value, scaled``.

- ``metric``: one of :data:`BIO_METRICS`, :data:`BATCH_METRICS`, or an
  aggregate of :data:`AGGREGATES` (``bio_conservation``,
  ``batch_correction``, ``total``, ``mean``).
- ``value``: the raw metric value (:func:`scib_raw`).
- ``scaled``: the value min-max scaled over the dataset's embeddings (all
  ``(method, embedding)`` pairs) for that metric (:func:`scale_and_aggregate`).
- Aggregate rows (one set per embedding) carry their score in both
  ``value`` and ``scaled``: ``bio_conservation`` / ``batch_correction`` are
  the means of the scaled bio / batch metrics (NaN ignored), ``total`` is
  0.6 bio + 0.4 batch (scIB's weighting) and ``mean`` is (bio + batch) / 2.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import numba
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SCIB_METRICS_VERSION = "0.5.10"

BIO_METRICS = (
    "isolated_labels",
    "leiden_nmi",
    "leiden_ari",
    "kmeans_nmi",
    "kmeans_ari",
    "silhouette_label",
    "clisi",
)
BATCH_METRICS = (
    "silhouette_batch",
    "ilisi",
    "kbet",
    "graph_connectivity",
    "pcr_comparison",
)
METRICS = BIO_METRICS + BATCH_METRICS
AGGREGATES = ("bio_conservation", "batch_correction", "total", "mean")
COLUMNS = ["dataset", "method", "embedding", "metric", "value", "scaled"]
RAW_COLUMNS = ["dataset", "method", "embedding", "metric", "value"]

#: Weights of the ``total`` score (scIB's).
BIO_WEIGHT = 0.6
BATCH_WEIGHT = 0.4

#: Neighbour-list sizes of scib-metrics' ``Benchmarker``: Leiden and graph
#: connectivity use 15, kBET 50, LISI 90 (all prefixes of one search).
N_NEIGHBORS_CLUSTER = 15
N_NEIGHBORS_KBET = 50

EXCLUDE_LABELS = ("unlabelled", "other")

#: Leiden resolutions scanned (scib-metrics': 0.2, 0.4, ..., 2.0).
LEIDEN_RESOLUTIONS = tuple(2 * x / 10 for x in range(1, 11))
#: scib-metrics' ``KMeans`` defaults.
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4
#: scib-metrics' ``kbet_per_label`` defaults.
KBET_ALPHA = 0.05
KBET_DIFFUSION_COMPS = 100

# Rows of one silhouette distance block (x 4 columns: 64 MB of float32).
_SILHOUETTE_BLOCK = 2048
# Pairs closer than this fraction of their squared norms get their distance
# from the exact difference rather than the float32 matrix product.
_NEAR = 1e-3
# Bytes of float64 distances per row chunk of the diffusion-space kNN.
_KNN_CHUNK_BYTES = 64 * 2**20
# Below this many cells Leiden and kBET stay in-process: starting worker
# processes (~3 s) costs more than it saves.
_PARALLEL_MIN_CELLS = 50_000


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------


def n_workers(n_jobs: int | None) -> int:
    """Cores that ``n_jobs`` asks for.

    Parameters
    ----------
    n_jobs
        A positive count, or None / a negative number for every core this
        process may use.

    Returns
    -------
    int
        At least 1.
    """
    if n_jobs is None or n_jobs < 0:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            return os.cpu_count() or 1
    return max(1, int(n_jobs))


@contextmanager
def thread_limits(n_threads: int):
    """Cap the BLAS / OpenMP and numba threads of this process.

    Parameters
    ----------
    n_threads
        Threads allowed inside the ``with`` block; the previous settings
        are restored on exit.
    """
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        numba.set_num_threads(previous)


def _parallel(function, tasks: list, n_jobs: int) -> list:
    """``[function(*task) for task in tasks]``, in ``n_jobs`` processes
    when ``n_jobs > 1`` (each worker then uses one BLAS thread)."""
    if n_jobs <= 1 or len(tasks) <= 1:
        return [function(*task) for task in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=min(n_jobs, len(tasks)))(delayed(function)(*task) for task in tasks)


# --------------------------------------------------------------------------
# neighbours
# --------------------------------------------------------------------------


def _as_matrix(embedding) -> np.ndarray:
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

    X = _as_matrix(embedding)
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


def _subset(nn, k: int):
    return nn if k >= nn.n_neighbors else nn.subset_neighbors(k)


# --------------------------------------------------------------------------
# silhouettes
# --------------------------------------------------------------------------


@numba.njit(parallel=True, fastmath=True, cache=True)
def _add_block_distances(G, sq_rows, sq_cols, row_codes, col_bounds, col_from, row_sums, col_sums, near,
                         n_threads):  # pragma: no cover - compiled
    """Add the distances of one block to the per-cluster sums of its rows and columns.

    ``G`` is the float32 Gram block of a block of rows and a chunk of
    columns, both sorted by cluster (column cluster ``s`` is
    ``col_bounds[s]:col_bounds[s + 1]``); ``d_ij = sqrt(sq_rows[i] + sq_cols[j]
    - 2 G_ij)``. Adds ``row_sums[i, s] += sum_{j in s} d_ij`` and, for columns
    ``j >= col_from``, ``col_sums[j, row_codes[i]] += d_ij``. On the diagonal
    block (``col_from > 0``: column ``i`` is row ``i``) ``d_ii`` is 0 and
    ``G[i, i]`` is overwritten. Sets ``near[i]`` where a pair of row ``i`` is
    closer than :data:`_NEAR` of its squared norms (see
    :func:`_fix_near_pairs`). Rows are split in ``n_threads`` parts, each
    adding its columns' sums to a private buffer; the loops are kept simple
    so that they are vectorised.
    """
    n_rows, n_cols = G.shape
    n_clusters = row_sums.shape[1]
    per_thread = (n_rows + n_threads - 1) // n_threads
    partial = np.zeros((n_threads, n_clusters, n_cols))
    for t in numba.prange(n_threads):
        d = np.empty(n_cols)
        for i in range(t * per_thread, min((t + 1) * per_thread, n_rows)):
            if col_from > 0:
                G[i, i] = -1e30  # the cell itself: far, so not "near"; its distance is set to 0 below
            sq_i = sq_rows[i]
            g = G[i]
            n_near = 0.0  # a float count: a min or an integer count would keep this loop scalar
            for j in range(n_cols):
                d2 = sq_i + sq_cols[j] - 2.0 * g[j]
                n_near += 1.0 if d2 < _NEAR * (sq_i + sq_cols[j]) else 0.0
                d[j] = np.sqrt(max(d2, 0.0))
            near[i] = n_near > 0.0
            if col_from > 0:
                d[i] = 0.0
            for s in range(n_clusters):
                acc = 0.0
                for j in range(col_bounds[s], col_bounds[s + 1]):
                    acc += d[j]
                row_sums[i, s] += acc
            code = row_codes[i]
            for j in range(n_cols):  # columns left of col_from too: never read back
                partial[t, code, j] += d[j]
    for j in numba.prange(col_from, n_cols):
        for c in range(n_clusters):
            acc = 0.0
            for t in range(n_threads):
                acc += partial[t, c, j]
            col_sums[j, c] += acc


@numba.njit(cache=True)
def _fix_near_pairs(G, X_rows, X_cols, sq_rows, sq_cols, row_codes, col_codes, col_from, near, row_sums,
                    col_sums):  # pragma: no cover - compiled
    """Correct the sums of :func:`_add_block_distances` for the pairs of the
    ``near`` rows that are closer than :data:`_NEAR` of their squared norms:
    there ``|x|^2 + |y|^2 - 2 x.y`` cancels and the float32 product's
    rounding dominates, so the distance is recomputed from the exact float64
    differences (duplicates are then exactly 0 apart)."""
    for i in np.flatnonzero(near):
        for j in range(G.shape[1]):
            d2 = sq_rows[i] + sq_cols[j] - 2.0 * G[i, j]
            if d2 >= _NEAR * (sq_rows[i] + sq_cols[j]):
                continue
            exact = 0.0
            for k in range(X_rows.shape[1]):
                diff = np.float64(X_rows[i, k]) - np.float64(X_cols[j, k])
                exact += diff * diff
            change = np.sqrt(exact) - np.sqrt(max(d2, 0.0))
            row_sums[i, col_codes[j]] += change
            if j >= col_from:
                col_sums[j, row_codes[i]] += change


def cluster_distance_sums(X, codes, n_clusters: int, block_size: int = _SILHOUETTE_BLOCK) -> np.ndarray:
    """Sum of euclidean distances from every cell to every cluster.

    Cells are sorted by cluster, so that a cluster is a contiguous range of
    columns, and centred (smaller norms, less cancellation). Rows are taken
    ``block_size`` at a time; for each row block ``I`` and each chunk ``J`` of
    ``4 * block_size`` columns from ``I``'s first cell on, one float32
    product ``X_I X_J^T`` gives ``|x|^2 + |y|^2 - 2 x.y`` (norms in float64)
    and a compiled pass adds the distances, in float64, to the cluster sums
    of the rows of ``I`` and of the columns of ``J`` beyond ``I`` -- so each
    pair is computed once.

    Parameters
    ----------
    X
        Array of shape ``(n_cells, n_dims)``.
    codes
        Integer array of shape ``(n_cells,)``, cluster of each cell in
        ``0 .. n_clusters - 1``.
    n_clusters
        Number of clusters.
    block_size
        Rows per block.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_cells, n_clusters)``: ``out[i, c]`` is the sum of
        the distances from cell ``i`` to the cells of cluster ``c`` (its
        distance to itself counts 0).
    """
    codes = np.asarray(codes, dtype=np.int64)
    n = codes.shape[0]
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    Xs = np.asarray(X, dtype=np.float64)[order]
    Xs -= Xs.mean(axis=0)
    X32 = np.ascontiguousarray(Xs, dtype=np.float32)
    del Xs
    sq = np.einsum("ij,ij->i", X32.astype(np.float64), X32.astype(np.float64))
    bounds = np.searchsorted(sorted_codes, np.arange(n_clusters + 1))
    sums = np.zeros((n, n_clusters))
    col_block = 4 * block_size
    n_threads = numba.get_num_threads()
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        rows = slice(start, stop)
        for col_start in range(start, n, col_block):
            cols = slice(col_start, min(col_start + col_block, n))
            block = X32[rows] @ X32[cols].T
            col_from = stop - start if col_start == start else 0
            near = np.zeros(stop - start, dtype=np.bool_)
            _add_block_distances(block, sq[rows], sq[cols], sorted_codes[rows],
                                 np.clip(bounds - col_start, 0, block.shape[1]), col_from, sums[rows], sums[cols],
                                 near, n_threads)
            if near.any():
                _fix_near_pairs(block, X32[rows], X32[cols], sq[rows], sq[cols], sorted_codes[rows],
                                sorted_codes[cols], col_from, near, sums[rows], sums[cols])
    out = np.empty_like(sums)
    out[order] = sums
    return out


def silhouette_samples(X, labels, block_size: int = _SILHOUETTE_BLOCK) -> np.ndarray:
    """Per-cell silhouette (euclidean, nearest other cluster).

    Same definition as ``scib_metrics.utils.silhouette_samples`` (and
    scikit-learn's): ``s = (b - a) / max(a, b)`` with ``a`` the mean
    distance to the other cells of the cell's cluster and ``b`` the smallest
    mean distance to another cluster; 0 where that is undefined (singleton
    cluster, a single cluster), as scib-metrics' ``nan_to_num`` gives.
    Distances come from :func:`cluster_distance_sums`.

    Parameters
    ----------
    X
        Array of shape ``(n_cells, n_dims)``.
    labels
        Array of shape ``(n_cells,)``: the clusters.
    block_size
        Rows per distance block.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_cells,)``.
    """
    X = np.asarray(X)
    n = X.shape[0]
    if len(labels) != n:
        raise ValueError("X and labels should have the same number of samples")
    codes = np.asarray(pd.Categorical(np.asarray(labels)).codes, dtype=np.int64)
    n_clusters = int(codes.max()) + 1
    freqs = np.bincount(codes, minlength=n_clusters).astype(np.float64)
    sums = cluster_distance_sums(X, codes, n_clusters, block_size)
    rows = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = sums[rows, codes] / (freqs[codes] - 1.0)
        means = sums / freqs
        means[rows, codes] = np.inf
        inter = means.min(axis=1)
        sil = (inter - intra) / np.maximum(intra, inter)
    return np.nan_to_num(sil)


def isolated_labels_score(sil: np.ndarray, labels: np.ndarray, batch: np.ndarray) -> float:
    """scib-metrics' ``isolated_labels`` (rescaled) from per-cell silhouettes.

    Isolated labels are those present in the fewest batches (scib-metrics'
    default ``iso_threshold=None``); the score is the mean over them of the
    mean rescaled silhouette ``(s + 1) / 2`` of their cells.

    Parameters
    ----------
    sil
        Per-cell label silhouettes (:func:`silhouette_samples`).
    labels, batch
        Arrays of shape ``(n_cells,)``.

    Returns
    -------
    float
    """
    pairs = pd.DataFrame({"label": labels, "batch": batch}).drop_duplicates()
    batches_per_label = pairs.groupby("label")["batch"].size()
    isolated = batches_per_label.index[batches_per_label <= batches_per_label.min()]
    rescaled = (sil + 1) / 2
    return float(np.mean([np.mean(rescaled[labels == label]) for label in isolated]))


def silhouette_batch(X, labels, batch) -> float:
    """scIB's batch silhouette (scib-metrics' ``silhouette_batch``, not BRAS).

    Within each label, the silhouette of the cells with respect to their
    batch; a label scores the mean of ``1 - |s|`` over its cells, and the
    metric is the mean over labels. Labels found in one batch only, or
    with every cell in its own batch, are left out.

    Parameters
    ----------
    X
        Array of shape ``(n_cells, n_dims)``.
    labels, batch
        Arrays of shape ``(n_cells,)``.

    Returns
    -------
    float
        NaN when no label spans two batches.
    """
    labels = np.asarray(labels)
    batch = np.asarray(batch)
    scores = []
    for label in np.unique(labels):
        mask = labels == label
        n_batches = len(np.unique(batch[mask]))
        if n_batches == 1 or n_batches == int(mask.sum()):
            continue
        scores.append(np.mean(1.0 - np.abs(silhouette_samples(X[mask], batch[mask]))))
    return float(np.mean(scores)) if scores else float("nan")


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
    n_jobs = min(n_jobs if nn.n_samples >= _PARALLEL_MIN_CELLS else 1, len(LEIDEN_RESOLUTIONS))
    shares = [LEIDEN_RESOLUTIONS[i::n_jobs] for i in range(n_jobs)]
    results = _parallel(_leiden_scores, [(graph, labels, share, int(seed)) for share in shares], n_jobs)
    by_resolution = dict(zip(itertools.chain(*shares), itertools.chain(*results)))
    scores = np.array([by_resolution[r] for r in LEIDEN_RESOLUTIONS])
    best = int(np.argmax(scores[:, 0]))
    return {"nmi": float(scores[best, 0]), "ari": float(scores[best, 1])}


# --------------------------------------------------------------------------
# kBET
# --------------------------------------------------------------------------


def _symmetric_transitions(connectivities):
    """Scanpy's density-normalised symmetric transition matrix (as in
    scib-metrics' diffusion map): ``K = Q C Q`` with ``Q = diag(1 / q)``, ``q``
    the degrees, then ``Z K Z`` with ``Z = diag(1 / sqrt(row sums of K))``."""
    import scipy.sparse as sp

    n = connectivities.shape[0]
    inverse_degree = sp.diags(1.0 / np.asarray(connectivities.sum(axis=0)).ravel(), 0, shape=(n, n))
    K = inverse_degree @ connectivities @ inverse_degree
    scale = sp.diags(1.0 / np.sqrt(np.asarray(K.sum(axis=0)).ravel()), 0, shape=(n, n))
    return scale @ K @ scale


def diffusion_embedding(connectivities, n_comps: int = KBET_DIFFUSION_COMPS, seed: int = 0) -> np.ndarray:
    """Multiscale diffusion map of a connectivity graph (scib-metrics' kBET).

    The ``n_comps`` eigenvectors of largest |eigenvalue| of the symmetric
    transition matrix (ARPACK in float64, one BLAS thread, start vector
    seeded), each scaled
    by ``l / (1 - l)`` (``l`` in float32, plus 1e-8; an eigenvalue of exactly
    1 keeps scale 1), in float32 -- scib-metrics' ``diffusion_nn`` before
    its neighbour search.

    Parameters
    ----------
    connectivities
        Sparse symmetric matrix of shape ``(n, n)``.
    n_comps
        Components; capped at ``n - 1``.
    seed
        Seed of ARPACK's start vector.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n, n_comps)``.
    """
    from scipy.sparse.linalg import eigsh
    from threadpoolctl import threadpool_limits

    transitions = _symmetric_transitions(connectivities).astype(np.float64)
    n = transitions.shape[0]
    start = np.random.default_rng(seed).uniform(-1.0, 1.0, n)
    with threadpool_limits(limits=1):  # ARPACK's small BLAS calls: threads only add synchronisation
        evals, evecs = eigsh(transitions, k=min(n - 1, int(n_comps)), which="LM", v0=start)
    evals = evals.astype(np.float32) + np.float32(1e-8)
    with np.errstate(divide="ignore"):
        scale = np.where(evals == 1, evals, evals / (1 - evals))
    return evecs.astype(np.float32) * scale.astype(np.float32)


def nearest_neighbor_indices(E, k: int) -> np.ndarray:
    """Exact euclidean k nearest neighbours, the cell itself always among
    them, in row chunks (unordered within a row).

    Parameters
    ----------
    E
        Array of shape ``(n, d)``.
    k
        Neighbours per row. If ``k > n`` the rows are padded with ``n - 1``,
        the index pynndescent's ``-1`` (a missing neighbour) points at.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n, k)``.
    """
    E = np.asarray(E, dtype=np.float64)
    n = E.shape[0]
    if k >= n:
        own = np.tile(np.arange(n), (n, 1))
        return np.hstack([own, np.full((n, k - n), n - 1)])
    sq = np.einsum("ij,ij->i", E, E)
    out = np.empty((n, k), dtype=np.int64)
    chunk = max(1, _KNN_CHUNK_BYTES // (8 * n))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        rows = np.arange(stop - start)
        d2 = E[start:stop] @ E.T
        d2 *= -2.0
        d2 += sq[start:stop, None]
        d2 += sq[None, :]
        d2[rows, rows + start] = -np.inf
        out[start:stop] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return out


def kbet_acceptance(neighbors: np.ndarray, batches, alpha: float = KBET_ALPHA) -> float:
    """kBET acceptance rate (scib-metrics' ``kbet``).

    Per cell, a chi-square test of the batch counts among its neighbours
    (itself included) against the batch frequencies of all cells (degrees of
    freedom: number of batches - 1); the rate is the fraction of cells
    with p >= ``alpha``.

    Parameters
    ----------
    neighbors
        Integer array of shape ``(n, k)``: neighbour indices.
    batches
        Array of shape ``(n,)``.
    alpha
        Significance level.

    Returns
    -------
    float
    """
    from scipy.special import chdtrc

    _, codes = np.unique(np.asarray(batches), return_inverse=True)
    n_batches = int(codes.max()) + 1
    n, k = neighbors.shape
    expected = np.bincount(codes, minlength=n_batches) / n * k
    cells = np.repeat(np.arange(n), k)
    observed = np.bincount(cells * n_batches + codes[neighbors].ravel(), minlength=n * n_batches)
    observed = observed.reshape(n, n_batches)
    statistic = np.sum((observed - expected) ** 2 / expected, axis=1)
    with np.errstate(invalid="ignore"):
        p_values = chdtrc(n_batches - 1, statistic)
    return float(np.mean(p_values >= alpha))


def _kbet_plan(connectivities, batches: np.ndarray, labels: np.ndarray, n_comps: int):
    """Per label (sorted), its kBET score when it is decided without a
    diffusion map (NaN: skipped; 0: too fragmented), else the inputs of
    :func:`_kbet_label`: ``(sub-graph, batches, k0, n_comps)``."""
    from scipy.sparse.csgraph import connected_components

    plan = {}
    for label in np.unique(labels):
        mask = labels == label
        graph = connectivities[mask][:, mask]
        sub_batches = batches[mask]
        n_obs = graph.shape[0]
        counts = np.unique(sub_batches, return_counts=True)[1]
        if n_obs < 10 or len(counts) == 1:
            log.info("scIB kBET: label %s has one batch or fewer than 10 cells -- skipped", label)
            plan[label] = float("nan")
            continue
        k0 = int(min(70, max(10, np.floor(np.mean(counts) / 4))))
        if k0 * n_obs >= 2**31 - 1:
            k0 = int(np.floor((2**31 - 1) / n_obs))
        n_components, component = connected_components(graph, connection="strong")
        if n_components > 1:
            sizes = np.bincount(component)
            kept = np.flatnonzero(sizes[component] >= 3 * k0)
            if len(kept) / n_obs < 0.75:
                plan[label] = 0.0  # too many small components: 100 % rejection, as scib-metrics
                continue
            graph = graph[kept][:, kept]
            sub_batches = sub_batches[kept]
        n_comps = min(n_comps, graph.shape[0] - 1)  # carried over to later labels, as in scib-metrics
        plan[label] = (graph, sub_batches, k0, n_comps)
    return plan


def _kbet_label(graph, batches: np.ndarray, k0: int, n_comps: int, alpha: float, seed: int) -> float:
    """kBET acceptance of one label's (connected) sub-graph: neighbours in its
    diffusion map. A failing diffusion map scores 0, as in scib-metrics."""
    try:
        embedding = diffusion_embedding(graph, n_comps, seed)
    except ValueError as error:
        log.info("scIB kBET: diffusion map failed (%s) -- score 0", error)
        return 0.0
    return kbet_acceptance(nearest_neighbor_indices(embedding, k0 + 1), batches, alpha)


def kbet_per_label(nn, batches, labels, alpha: float = KBET_ALPHA, diffusion_n_comps: int = KBET_DIFFUSION_COMPS,
                   seed: int = 0, n_jobs: int = 1, return_per_label: bool = False):
    """scib-metrics' ``kbet_per_label`` (see the module docstring for what
    differs in how it is computed).

    Parameters
    ----------
    nn
        ``NeighborsResults`` (scib-metrics) of all cells, e.g. the 50-NN
        prefix; its UMAP connectivities are the graph.
    batches, labels
        Arrays of shape ``(n_cells,)``.
    alpha
        Significance level of the per-cell tests.
    diffusion_n_comps
        Diffusion components (at most; see the module docstring).
    seed
        Seed of ARPACK's start vectors.
    n_jobs
        Processes sharing the labels (1 below 50,000 cells).
    return_per_label
        Also return the per-label scores.

    Returns
    -------
    float or (float, pandas.Series)
        Mean acceptance rate over the labels that are not skipped (NaN if
        all are), and optionally the score of each label.
    """
    labels = np.asarray(labels)
    batches = np.asarray(pd.Categorical(np.asarray(batches)).codes)
    if len(labels) != nn.n_samples or len(batches) != nn.n_samples:
        raise ValueError("batches and labels must have one value per cell of the neighbour graph")
    plan = _kbet_plan(nn.knn_graph_connectivities.tocsr(), batches, labels, int(diffusion_n_comps))
    tasks = sorted((label for label, item in plan.items() if isinstance(item, tuple)),
                   key=lambda label: -plan[label][0].shape[0])  # largest first: balanced workers
    if nn.n_samples < _PARALLEL_MIN_CELLS:
        n_jobs = 1
    scores = _parallel(_kbet_label, [(*plan[label], alpha, int(seed)) for label in tasks], n_jobs)
    per_label = pd.Series({label: item for label, item in plan.items() if not isinstance(item, tuple)}
                          | dict(zip(tasks, scores)), dtype=float).reindex(list(plan))
    score = float(per_label.mean()) if per_label.notna().any() else float("nan")
    return (score, per_label) if return_per_label else score


# --------------------------------------------------------------------------
# raw metrics
# --------------------------------------------------------------------------


@contextmanager
def _timed(timings: dict | None, key: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - start


def _as_strings(values, n: int, what: str) -> np.ndarray:
    arr = np.asarray(pd.Series(np.asarray(values, dtype=object)).astype(str), dtype=object)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have one value per cell ({n}), got shape {arr.shape}")
    return arr


def bio_mask(labels, exclude_labels: Iterable[str] = EXCLUDE_LABELS) -> np.ndarray:
    """Cells that enter the bio metrics: label present and not excluded.

    Parameters
    ----------
    labels
        Array of shape ``(n_cells,)``.
    exclude_labels
        Labels left out, compared case-insensitively.

    Returns
    -------
    numpy.ndarray
        Boolean array of shape ``(n_cells,)``.
    """
    series = pd.Series(np.asarray(labels, dtype=object))
    excluded = {str(label).lower() for label in exclude_labels}
    return np.asarray(~(series.isna() | series.astype(str).str.lower().isin(excluded)))


def _skipped(names: Iterable[str], wanted: set[str]) -> str:
    return ", ".join(name for name in names if name in wanted)


def _bio_metrics(X, labels, batch, keep, nn, wanted: set[str], *, exclude_labels, n_neighbors: int, seed: int,
                 neighbor_method: str, n_jobs: int, timings) -> dict[str, float]:
    """The bio-conservation metrics of :func:`scib_raw` that are wanted and
    computable (labels given, at least two kept)."""
    import scib_metrics

    wanted = wanted & set(BIO_METRICS)
    if not wanted:
        return {}
    if labels is None:
        log.info("scIB: no labels -- bio-conservation metrics are NaN (skipped: %s)", _skipped(BIO_METRICS, wanted))
        return {}
    if len(np.unique(labels[keep])) < 2:
        log.info("scIB: fewer than two labels after excluding %s -- bio-conservation metrics are NaN (skipped: %s)",
                 list(exclude_labels), _skipped(BIO_METRICS, wanted))
        return {}
    out = {}
    if keep.all():
        Xb, lb, bb, nnb = X, labels, batch, nn
    else:
        log.info("scIB: %d of %d cells (labels %s) left out of the bio metrics",
                 int((~keep).sum()), len(keep), list(exclude_labels))
        Xb, lb, bb, nnb = X[keep], labels[keep], batch[keep], None
        if wanted & {"leiden_nmi", "leiden_ari", "clisi"}:
            with _timed(timings, "neighbors_bio"):
                nnb = compute_neighbors(Xb, n_neighbors, seed, neighbor_method)
    if wanted & {"silhouette_label", "isolated_labels"}:
        with _timed(timings, "silhouette_label"):
            sil = silhouette_samples(Xb, lb)
            out["silhouette_label"] = float((np.mean(sil) + 1) / 2)
            out["isolated_labels"] = isolated_labels_score(sil, lb, bb)
    if wanted & {"kmeans_nmi", "kmeans_ari"}:
        with _timed(timings, "kmeans"):
            km = kmeans_nmi_ari(Xb, lb, seed=seed)
            out["kmeans_nmi"], out["kmeans_ari"] = km["nmi"], km["ari"]
    if wanted & {"leiden_nmi", "leiden_ari"}:
        with _timed(timings, "leiden"):
            res = leiden_nmi_ari(_subset(nnb, N_NEIGHBORS_CLUSTER), lb, seed=seed, n_jobs=n_jobs)
            out["leiden_nmi"], out["leiden_ari"] = res["nmi"], res["ari"]
    if "clisi" in wanted:
        with _timed(timings, "clisi"):
            out["clisi"] = float(scib_metrics.clisi_knn(nnb, lb))
    return out


def _batch_metrics(X, labels, batch, baseline, nn, wanted: set[str], *, seed: int, n_jobs: int,
                   timings) -> dict[str, float]:
    """The batch-correction metrics of :func:`scib_raw` that are wanted and
    computable (two batches or more; labels for the label-aware ones)."""
    import scib_metrics

    wanted = wanted & set(BATCH_METRICS)
    if not wanted:
        return {}
    if len(np.unique(batch)) < 2:
        log.info("scIB: one batch -- batch-correction metrics are NaN (skipped: %s)",
                 _skipped(BATCH_METRICS, wanted))
        return {}
    by_label = ("silhouette_batch", "kbet", "graph_connectivity")
    if labels is None and wanted & set(by_label):
        log.info("scIB: no labels -- %s are NaN (skipped; they are computed within labels)",
                 _skipped(by_label, wanted))
        wanted = wanted - set(by_label)
    out = {}
    if "silhouette_batch" in wanted:
        with _timed(timings, "silhouette_batch"):
            out["silhouette_batch"] = silhouette_batch(X, labels, batch)
        if np.isnan(out["silhouette_batch"]):
            log.info("scIB: no label spans two batches -- silhouette_batch is NaN")
    if "kbet" in wanted:
        with _timed(timings, "kbet"):
            out["kbet"] = kbet_per_label(_subset(nn, N_NEIGHBORS_KBET), batch, labels, seed=seed, n_jobs=n_jobs)
        if np.isnan(out["kbet"]):
            log.info("scIB: every label has one batch or fewer than 10 cells -- kbet is NaN")
    if "graph_connectivity" in wanted:
        with _timed(timings, "graph_connectivity"):
            out["graph_connectivity"] = float(scib_metrics.graph_connectivity(_subset(nn, N_NEIGHBORS_CLUSTER), labels))
    if "ilisi" in wanted:
        with _timed(timings, "ilisi"):
            out["ilisi"] = float(scib_metrics.ilisi_knn(nn, batch))
    if "pcr_comparison" in wanted:
        if baseline is None:
            log.info("scIB: no baseline embedding -- pcr_comparison is NaN")
        else:
            with _timed(timings, "pcr_comparison"):
                out["pcr_comparison"] = float(
                    scib_metrics.pcr_comparison(baseline, X, batch, scale=True, categorical=True))
    return out


def scib_raw(
    embedding,
    labels,
    batch,
    baseline=None,
    n_neighbors: int = 90,
    seed: int = 0,
    leiden: bool = True,
    exclude_labels: Sequence[str] = EXCLUDE_LABELS,
    *,
    neighbors=None,
    neighbor_method: str = "exact",
    metrics: Iterable[str] | None = None,
    timings: dict | None = None,
    n_jobs: int | None = 1,
) -> dict[str, float]:
    """Raw values of every scIB metric of one embedding.

    Parameters
    ----------
    embedding
        Array of shape ``(n_cells, n_dims)``: the embedding scored.
    labels
        Array of shape ``(n_cells,)``: cell-type labels, or None (then the
        bio metrics and the label-aware batch metrics are NaN).
    batch
        Array of shape ``(n_cells,)``: batch (sample) of each cell, or None
        (one batch).
    baseline
        Array of shape ``(n_cells, n_pcs)``: the embedding before
        integration, for ``pcr_comparison`` (the pipeline passes the PCA of
        the modality, or of the concatenated modalities for joint
        embeddings). None: ``pcr_comparison`` is NaN.
    n_neighbors
        Size of the one neighbour search (LISI uses it all; Leiden, graph
        connectivity and kBET use its first 15 / 50).
    seed
        Seed of KMeans, Leiden, kBET's diffusion maps and (with pynndescent)
        the neighbour search.
    leiden
        Compute the Leiden NMI / ARI (else NaN).
    exclude_labels
        Labels (case-insensitive) whose cells are left out of the bio
        metrics.
    neighbors
        Precomputed :func:`compute_neighbors` result of ``embedding`` (all
        cells), reused instead of searching again.
    neighbor_method
        ``method`` of :func:`compute_neighbors`.
    metrics
        Names of the metrics to compute (default: all); the others are NaN.
    timings
        If a dict, filled with wall seconds per step (``neighbors``,
        ``neighbors_bio``, ``silhouette_label`` -- the shared label
        silhouette of ``silhouette_label`` and ``isolated_labels`` --,
        ``kmeans``, ``leiden``, ``clisi``, ``silhouette_batch``, ``ilisi``,
        ``kbet``, ``graph_connectivity``, ``pcr_comparison``).
    n_jobs
        Cores to use (None: all): BLAS and numba threads, and worker
        processes of kBET and Leiden. The values do not depend on it.

    Returns
    -------
    dict[str, float]
        One value per metric of :data:`BIO_METRICS` and
        :data:`BATCH_METRICS`, in that order; NaN where not computable (each
        case logged; see the module docstring).
    """
    import scib_metrics

    if scib_metrics.__version__ != SCIB_METRICS_VERSION:
        log.warning("scIB: scib-metrics %s installed; these definitions follow %s",
                    scib_metrics.__version__, SCIB_METRICS_VERSION)
    X = _as_matrix(embedding)
    n = X.shape[0]
    wanted = set(METRICS if metrics is None else metrics)
    unknown = wanted - set(METRICS)
    if unknown:
        raise ValueError(f"unknown scIB metrics {sorted(unknown)}; known: {list(METRICS)}")
    if not leiden:
        wanted -= {"leiden_nmi", "leiden_ari"}
    batch = np.full(n, "batch", dtype=object) if batch is None else _as_strings(batch, n, "batch")
    keep = None
    if labels is not None:
        raw_labels = np.asarray(labels, dtype=object)
        if raw_labels.shape != (n,):
            raise ValueError(f"labels must have one value per cell ({n}), got shape {raw_labels.shape}")
        keep = bio_mask(raw_labels, exclude_labels)
        labels = _as_strings(raw_labels, n, "labels")
    if baseline is not None:
        baseline = _as_matrix(baseline)
        if baseline.shape[0] != n:
            raise ValueError(f"baseline has {baseline.shape[0]} cells, the embedding {n}")
    if neighbors is not None and neighbors.n_samples != n:
        raise ValueError(f"neighbors cover {neighbors.n_samples} cells, the embedding {n}")

    workers = n_workers(n_jobs)
    out = {name: float("nan") for name in METRICS}
    with thread_limits(workers):
        nn = neighbors
        if nn is None and wanted & {"leiden_nmi", "leiden_ari", "clisi", "ilisi", "kbet", "graph_connectivity"}:
            with _timed(timings, "neighbors"):
                nn = compute_neighbors(X, n_neighbors, seed, neighbor_method)
        out.update(_bio_metrics(X, labels, batch, keep, nn, wanted, exclude_labels=exclude_labels,
                                n_neighbors=n_neighbors, seed=seed, neighbor_method=neighbor_method,
                                n_jobs=workers, timings=timings))
        out.update(_batch_metrics(X, labels, batch, baseline, nn, wanted, seed=seed, n_jobs=workers,
                                  timings=timings))
    return {name: (value if name in wanted else float("nan")) for name, value in out.items()}


def raw_table(dataset: str, method: str, embedding: str, raw: dict[str, float]) -> pd.DataFrame:
    """Long-format rows of one embedding's :func:`scib_raw` result.

    Parameters
    ----------
    dataset, method, embedding
        Identify the embedding.
    raw
        ``{metric: value}``.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, method, embedding, metric, value``.
    """
    return pd.DataFrame(
        [{"dataset": dataset, "method": method, "embedding": embedding, "metric": m, "value": float(v)}
         for m, v in raw.items()],
        columns=RAW_COLUMNS,
    )


# --------------------------------------------------------------------------
# scaling and aggregation
# --------------------------------------------------------------------------


def scale_and_aggregate(raw: pd.DataFrame) -> pd.DataFrame:
    """Min-max scale each metric over a dataset's embeddings and add totals.

    As scib-metrics' ``Benchmarker.get_results(min_max_scale=True)``:
    each metric is scaled to [0, 1] over the dataset's embeddings (every
    ``(method, embedding)`` pair), ``(v - min) / (max - min)`` with NaN
    ignored in min and max and kept as NaN. A metric that is constant over
    the embeddings (including a single embedding) scales to **0** -- what
    scikit-learn's ``MinMaxScaler`` in the ``Benchmarker`` gives -- so the
    aggregates reproduce the ``Benchmarker``'s; it cannot change the
    ranking, as every embedding gets the same value.

    Parameters
    ----------
    raw
        Long format, columns ``dataset, method, embedding, metric, value``
        (others are carried along), raw values of all embeddings of ONE
        dataset, at most one row per ``(method, embedding, metric)``.

    Returns
    -------
    pandas.DataFrame
        The input rows with a ``scaled`` column, followed, per embedding (in
        order of first appearance), by rows ``bio_conservation`` (mean of the
        scaled :data:`BIO_METRICS`, NaN ignored; NaN if none), ``batch_correction``
        (likewise for :data:`BATCH_METRICS`), ``total`` (0.6 bio + 0.4 batch)
        and ``mean`` ((bio + batch) / 2); these rows carry the score in both
        ``value`` and ``scaled``. Metrics outside the two lists are scaled
        but not aggregated.
    """
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"raw scIB table lacks columns {missing}")
    df = raw.reset_index(drop=True).copy()
    datasets = df["dataset"].unique()
    if len(datasets) > 1:
        raise ValueError(f"scale_and_aggregate takes one dataset at a time, got {list(datasets)}")
    if df["metric"].isin(AGGREGATES).any():
        raise ValueError(f"raw scIB table already holds aggregate rows {AGGREGATES}")
    keys = ["method", "embedding", "metric"]
    if df.duplicated(keys).any():
        dup = df.loc[df.duplicated(keys, keep=False), keys].drop_duplicates().to_dict("records")
        raise ValueError(f"raw scIB table has duplicate rows for {dup}")
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)

    by_metric = df.groupby("metric")["value"]
    lo, hi = by_metric.transform("min"), by_metric.transform("max")
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (df["value"] - lo) / span
    scaled[(span == 0) & df["value"].notna()] = 0.0
    df["scaled"] = scaled.astype(float)

    rows = []
    for (method, emb), group in df.groupby(["method", "embedding"], sort=False, dropna=False):
        s = group.set_index("metric")["scaled"]
        bio = s.reindex([m for m in BIO_METRICS if m in s.index]).mean()
        bat = s.reindex([m for m in BATCH_METRICS if m in s.index]).mean()
        bio = float("nan") if pd.isna(bio) else float(bio)
        bat = float("nan") if pd.isna(bat) else float(bat)
        scores = {
            "bio_conservation": bio,
            "batch_correction": bat,
            "total": BIO_WEIGHT * bio + BATCH_WEIGHT * bat,
            "mean": (bio + bat) / 2,
        }
        for metric, score in scores.items():
            rows.append({"dataset": group["dataset"].iloc[0], "method": method, "embedding": emb,
                         "metric": metric, "value": score, "scaled": score})
    columns = list(df.columns)
    agg = pd.DataFrame(rows, columns=COLUMNS).reindex(columns=columns)
    return pd.concat([df, agg], ignore_index=True) if rows else df
