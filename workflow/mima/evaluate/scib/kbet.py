"""kBET (``kbet``): scib-metrics 0.5.10's ``kbet_per_label`` (see
:mod:`mima.evaluate.scib`), per label on the 50-NN connectivities,
re-implemented for speed and tested against it within 1e-3.

Per label, scib-metrics takes the label's sub-graph of the 50-NN
connectivities, embeds it with a diffusion map (100 eigenvectors of the
symmetric transition matrix, ARPACK) and looks up each cell's k0 + 1
nearest neighbours there with pynndescent, then runs a chi-square test per
cell. Here (:func:`kbet_per_label`): the same sub-graphs, rules (fewer than
10 cells or one batch: skipped; k0; connected components and the 75 % rule)
and diffusion map, but

1. the neighbours in diffusion space are the **exact** ones
   (:func:`nearest_neighbor_indices`, a matrix product; pynndescent
   approximates them and its numba compilation alone took ~50 s),
2. ARPACK runs single-threaded per label with a seeded start vector
   (:func:`diffusion_embedding`; multi-threaded BLAS on these small products
   was several times slower on two cores), labels in ``n_jobs`` processes
   from 50,000 cells on, and
3. the test is vectorised NumPy/SciPy (:func:`kbet_acceptance`;
   scib-metrics re-compiles a jax function for every label).

One scib-metrics quirk is kept on purpose: the number of diffusion
components is ``min(100, n - 1)`` over the labels processed *so far*
(scib-metrics overwrites its argument inside the loop), so a small label
lowers it for every later label.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from . import workers

log = logging.getLogger(__name__)

#: scib-metrics' ``kbet_per_label`` defaults.
KBET_ALPHA = 0.05
KBET_DIFFUSION_COMPS = 100

# Bytes of float64 distances per row chunk of the diffusion-space kNN.
_KNN_CHUNK_BYTES = 64 * 2**20


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
    if nn.n_samples < workers.PARALLEL_MIN_CELLS:
        n_jobs = 1
    scores = workers.parallel(_kbet_label, [(*plan[label], alpha, int(seed)) for label in tasks], n_jobs)
    per_label = pd.Series({label: item for label, item in plan.items() if not isinstance(item, tuple)}
                          | dict(zip(tasks, scores)), dtype=float).reindex(list(plan))
    score = float(per_label.mean()) if per_label.notna().any() else float("nan")
    return (score, per_label) if return_per_label else score
