"""scIB metrics of an embedding (DESIGN §4), as pure functions of
``(embedding, labels, batch)``.

Definitions follow **scib-metrics 0.5.10** -- the newest release that
installs on Python 3.11 and keeps the study's definitions (the study used
0.5.3) -- with one deliberate pre-0.5.6 choice: the batch silhouette is
``scib_metrics.silhouette_batch`` (scIB's "silhouette batch"), called
explicitly, **not BRAS**, which replaced it as the ``Benchmarker`` default in
0.5.6. Every metric is computed by scib-metrics' own function on the same
inputs and neighbour sizes as scib-metrics' ``Benchmarker``, except two thin
re-implementations, both tested equal to scib-metrics: the label silhouette
(see below) and the KMeans NMI / ARI wrapper (:func:`kmeans_nmi_ari`, to
expose the seed that scib-metrics fixes at 0):

Bio conservation (:data:`BIO_METRICS`, on cells whose label is not in
``exclude_labels``)
    ``isolated_labels`` (silhouette-based, scib-metrics' definition),
    ``leiden_nmi`` / ``leiden_ari`` (Leiden on the 15-NN UMAP connectivities,
    resolution optimised over 0.2, 0.4, ..., 2.0 by NMI as in
    ``nmi_ari_cluster_labels_leiden``; Leiden is *on* here although it is
    off by default in the ``Benchmarker``), ``kmeans_nmi`` / ``kmeans_ari``
    (scib-metrics' jax ``KMeans``, k = number of labels, k-means++,
    ``n_init=1`` -- the scib-metrics default -- seeded), ``silhouette_label``
    and ``clisi`` (90-NN).
Batch correction (:data:`BATCH_METRICS`, on all cells)
    ``silhouette_batch``, ``ilisi`` (90-NN), ``kbet`` (``kbet_per_label``,
    50-NN connectivities), ``graph_connectivity`` (15-NN graph) and
    ``pcr_comparison`` (against ``baseline``, categorical batch).

Implementation choices (each keeps scib-metrics' definition):

- Neighbours are computed **once per embedding** by :func:`compute_neighbors`
  (exact euclidean kNN, 90 neighbours including the cell itself) and reused
  by every kNN metric through ``NeighborsResults.subset_neighbors`` (15, 50,
  90 as in the ``Benchmarker``). The ``Benchmarker`` uses pynndescent
  (approximate); exact search is deterministic, needs no numba compilation
  and costs ~22 s for 90,000 x 100 on two cores, so it is the
  default at every size (``method="pynndescent"`` gives the ``Benchmarker``'s
  search). When cells are excluded from the bio metrics, the bio kNN
  metrics (Leiden, cLISI) need the kNN graph *of the kept cells*, which is
  computed once more on that subset.
- The label silhouette (``silhouette_label``, ``isolated_labels``) is the
  same per-cell silhouette -- scib-metrics computes it twice with jax. Here
  it is computed once, in row chunks with BLAS in float64
  (:func:`silhouette_samples`; peak memory ~256 MB per chunk whatever n),
  about 2.4 times faster than scib-metrics' jax loop on this machine; the
  aggregation is scib-metrics' (``isolated_labels`` uses its
  ``_get_isolated_labels``). The unit tests check equality with
  ``scib_metrics.silhouette_label`` / ``isolated_labels`` within 1e-6.
  ``silhouette_batch`` works within labels (sum of squared label sizes, far
  cheaper) and is scib-metrics' own function.
- Seeds: ``seed`` seeds KMeans (jax key), Leiden (igraph's RNG) and, with
  ``method="pynndescent"``, the neighbour search; kBET's diffusion
  neighbours are seeded inside scib-metrics. The same input gives the same
  numbers.
- Cells whose label (case-insensitive) is in ``exclude_labels``, or is
  missing, are left out of the bio metrics only; the batch metrics use all
  cells, and the label-aware ones (``silhouette_batch``, ``kbet``,
  ``graph_connectivity``) treat an excluded label as one more group.
- Batch metrics are NaN (with a logged notice) when there is one batch;
  bio metrics are NaN when ``labels`` is None (or fewer than two labels
  remain), and so are the label-aware batch metrics; ``pcr_comparison`` is
  NaN when ``baseline`` is None.

Table ``results/{dataset}/tables/scib.tsv`` (long format, one dataset):
columns ``dataset, method, embedding, metric, value, scaled``.

- ``metric``: one of :data:`BIO_METRICS`, :data:`BATCH_METRICS`, or an
  aggregate of :data:`AGGREGATES` (``bio_conservation``,
  ``batch_correction``, ``total``, ``mean``).
- ``value``: the raw metric value (:func:`scib_raw`); NaN where it could not
  be computed.
- ``scaled``: the value min-max scaled over the dataset's embeddings (all
  ``(method, embedding)`` pairs) for that metric (:func:`scale_and_aggregate`).
- Aggregate rows (one set per embedding) carry their score in both
  ``value`` and ``scaled``: ``bio_conservation`` / ``batch_correction`` are
  the means of the scaled bio / batch metrics (NaN ignored), ``total`` is
  0.6 bio + 0.4 batch (scIB's weighting) and ``mean`` is (bio + batch) / 2.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

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
#: connectivity use 15, kBET 50, LISI 90 (all subsets of one search).
N_NEIGHBORS_CLUSTER = 15
N_NEIGHBORS_KBET = 50

EXCLUDE_LABELS = ("unlabelled", "other")

# Bytes of float64 distances per silhouette chunk.
_SILHOUETTE_CHUNK_BYTES = 256 * 2**20


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


# --------------------------------------------------------------------------
# silhouette
# --------------------------------------------------------------------------


def silhouette_samples(X, labels, chunk_size: int | None = None) -> np.ndarray:
    """Per-cell silhouette (euclidean, nearest other cluster), in row chunks.

    Same definition as ``scib_metrics.utils.silhouette_samples`` (and
    scikit-learn's): ``s = (b - a) / max(a, b)`` with ``a`` the mean
    distance to the other cells of the cell's cluster and ``b`` the smallest
    mean distance to another cluster; 0 for singleton clusters (scib-metrics
    turns their NaN into 0). Distances come from
    ``|x|^2 + |y|^2 - 2 x.y`` in float64 (BLAS), one block of rows at a
    time, so memory is ``chunk_size x n_cells`` rather than ``n_cells^2``.

    Parameters
    ----------
    X
        Array of shape ``(n_cells, n_dims)``.
    labels
        Array of shape ``(n_cells,)``: the clusters.
    chunk_size
        Rows per block; default: as many as fit in 256 MB of distances.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_cells,)``.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if len(labels) != n:
        raise ValueError("X and labels should have the same number of samples")
    codes = np.asarray(pd.Categorical(np.asarray(labels)).codes, dtype=np.int64)
    n_clusters = int(codes.max()) + 1
    freqs = np.bincount(codes, minlength=n_clusters).astype(np.float64)
    onehot = np.zeros((n, n_clusters))
    onehot[np.arange(n), codes] = 1.0
    sq = np.einsum("ij,ij->i", X, X)
    if chunk_size is None:
        chunk_size = int(np.clip(_SILHOUETTE_CHUNK_BYTES // (8 * max(n, 1)), 16, 4096))
    intra = np.empty(n)
    inter = np.empty(n)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        rows = np.arange(stop - start)
        D = X[start:stop] @ X.T
        D *= -2.0
        D += sq[start:stop, None]
        D += sq[None, :]
        np.maximum(D, 0.0, out=D)
        np.sqrt(D, out=D)
        D[rows, rows + start] = 0.0
        sums = D @ onehot  # (chunk, clusters): summed distance to each cluster
        own = codes[start:stop]
        intra[start:stop] = sums[rows, own]
        sums /= freqs
        sums[rows, own] = np.inf
        inter[start:stop] = sums.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra /= freqs[codes] - 1.0
        sil = (inter - intra) / np.maximum(intra, inter)
    return np.nan_to_num(sil)


def _isolated_labels_score(sil: np.ndarray, labels: np.ndarray, batch: np.ndarray) -> float:
    """``scib_metrics.isolated_labels`` (rescaled) from precomputed silhouettes."""
    from scib_metrics.metrics._isolated_labels import _get_isolated_labels

    isolated = _get_isolated_labels(labels, batch, None)
    rescaled = (sil + 1) / 2
    scores = pd.Series({label: np.mean(rescaled[labels == label]) for label in isolated}, dtype=float)
    return float(scores.mean())


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


def kmeans_nmi_ari(X, labels, seed: int = 0) -> dict[str, float]:
    """scib-metrics' ``nmi_ari_cluster_labels_kmeans`` with a seed.

    scib-metrics' function fixes the jax ``KMeans`` seed at 0; this is the
    same computation (k = number of labels, k-means++, ``n_init=1``) with
    the seed exposed, so ``seed=0`` gives scib-metrics' numbers exactly. A
    float32 copy is clustered (scib-metrics' ``KMeans.fit`` centres its
    input in place).

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
    from scib_metrics.utils import KMeans
    from sklearn.metrics.cluster import adjusted_rand_score, normalized_mutual_info_score

    X32 = np.array(X, dtype=np.float32, order="C", copy=True)
    n_clusters = len(np.unique(labels))
    pred = KMeans(n_clusters, seed=int(seed)).fit(X32).labels_
    return {
        "nmi": float(normalized_mutual_info_score(labels, pred, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(labels, pred)),
    }


def _subset(nn, k: int):
    return nn if k >= nn.n_neighbors else nn.subset_neighbors(k)


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
        Seed of KMeans, Leiden and (with pynndescent) the neighbour search.
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

    Returns
    -------
    dict[str, float]
        One value per metric of :data:`BIO_METRICS` and
        :data:`BATCH_METRICS`, in that order; NaN where not computable.
    """
    import scib_metrics

    if scib_metrics.__version__ != SCIB_METRICS_VERSION:
        log.warning("scIB: scib-metrics %s installed; these definitions follow %s",
                    scib_metrics.__version__, SCIB_METRICS_VERSION)
    X = _as_matrix(embedding)
    n = X.shape[0]
    out = {name: float("nan") for name in METRICS}
    wanted = set(METRICS if metrics is None else metrics)
    unknown = wanted - set(METRICS)
    if unknown:
        raise ValueError(f"unknown scIB metrics {sorted(unknown)}; known: {list(METRICS)}")
    if not leiden:
        wanted -= {"leiden_nmi", "leiden_ari"}
    batch = np.full(n, "batch", dtype=object) if batch is None else _as_strings(batch, n, "batch")
    labels_given = labels is not None
    if labels_given:
        raw_labels = np.asarray(labels, dtype=object)
        if raw_labels.shape != (n,):
            raise ValueError(f"labels must have one value per cell ({n}), got shape {raw_labels.shape}")
        keep = bio_mask(raw_labels, exclude_labels)
        labels = _as_strings(raw_labels, n, "labels")
    if baseline is not None:
        baseline = _as_matrix(baseline)
        if baseline.shape[0] != n:
            raise ValueError(f"baseline has {baseline.shape[0]} cells, the embedding {n}")

    knn_bio = {"leiden_nmi", "leiden_ari", "clisi"}
    knn_batch = {"ilisi", "kbet", "graph_connectivity"}
    nn = None
    if neighbors is not None:
        nn = neighbors
        if nn.n_samples != n:
            raise ValueError(f"neighbors cover {nn.n_samples} cells, the embedding {n}")
    elif wanted & (knn_bio | knn_batch):
        with _timed(timings, "neighbors"):
            nn = compute_neighbors(X, n_neighbors, seed, neighbor_method)

    # ---- bio conservation
    bio_wanted = wanted & set(BIO_METRICS)
    if not bio_wanted:
        pass
    elif not labels_given:
        log.info("scIB: no labels -- bio-conservation metrics are NaN")
    elif len(np.unique(labels[keep])) < 2:
        log.info("scIB: fewer than two labels after excluding %s -- bio-conservation metrics are NaN",
                 list(exclude_labels))
    else:
        if keep.all():
            Xb, lb, bb, nnb = X, labels, batch, nn
        else:
            log.info("scIB: %d of %d cells (labels %s) left out of the bio metrics",
                     int((~keep).sum()), n, list(exclude_labels))
            Xb, lb, bb, nnb = X[keep], labels[keep], batch[keep], None
            if bio_wanted & knn_bio:
                with _timed(timings, "neighbors_bio"):
                    nnb = compute_neighbors(Xb, n_neighbors, seed, neighbor_method)
        if bio_wanted & {"silhouette_label", "isolated_labels"}:
            with _timed(timings, "silhouette_label"):
                sil = silhouette_samples(Xb, lb)
                out["silhouette_label"] = float((np.mean(sil) + 1) / 2)
                out["isolated_labels"] = _isolated_labels_score(sil, lb, bb)
        if bio_wanted & {"kmeans_nmi", "kmeans_ari"}:
            with _timed(timings, "kmeans"):
                km = kmeans_nmi_ari(Xb, lb, seed=seed)
                out["kmeans_nmi"], out["kmeans_ari"] = km["nmi"], km["ari"]
        if bio_wanted & {"leiden_nmi", "leiden_ari"}:
            with _timed(timings, "leiden"):
                res = scib_metrics.nmi_ari_cluster_labels_leiden(
                    _subset(nnb, N_NEIGHBORS_CLUSTER), lb, optimize_resolution=True, seed=int(seed), n_jobs=1)
                out["leiden_nmi"], out["leiden_ari"] = float(res["nmi"]), float(res["ari"])
        if "clisi" in bio_wanted:
            with _timed(timings, "clisi"):
                out["clisi"] = float(scib_metrics.clisi_knn(nnb, lb))

    # ---- batch correction
    batch_wanted = wanted & set(BATCH_METRICS)
    if not batch_wanted:
        pass
    elif len(np.unique(batch)) < 2:
        log.info("scIB: one batch -- batch-correction metrics are NaN")
    else:
        if not labels_given and batch_wanted & {"silhouette_batch", "kbet", "graph_connectivity"}:
            log.info("scIB: no labels -- silhouette_batch, kbet and graph_connectivity are NaN")
        if labels_given and "silhouette_batch" in batch_wanted:
            with _timed(timings, "silhouette_batch"):
                try:
                    out["silhouette_batch"] = float(
                        scib_metrics.silhouette_batch(X.astype(np.float32), labels, batch))
                except ValueError:  # pd.concat of nothing: no label is found in two batches
                    log.info("scIB: no label spans two batches -- silhouette_batch is NaN")
        if labels_given and "kbet" in batch_wanted:
            with _timed(timings, "kbet"):
                out["kbet"] = float(scib_metrics.kbet_per_label(_subset(nn, N_NEIGHBORS_KBET), batch, labels))
        if labels_given and "graph_connectivity" in batch_wanted:
            with _timed(timings, "graph_connectivity"):
                out["graph_connectivity"] = float(
                    scib_metrics.graph_connectivity(_subset(nn, N_NEIGHBORS_CLUSTER), labels))
        if "ilisi" in batch_wanted:
            with _timed(timings, "ilisi"):
                out["ilisi"] = float(scib_metrics.ilisi_knn(nn, batch))
        if "pcr_comparison" in batch_wanted:
            if baseline is None:
                log.info("scIB: no baseline embedding -- pcr_comparison is NaN")
            else:
                with _timed(timings, "pcr_comparison"):
                    out["pcr_comparison"] = float(
                        scib_metrics.pcr_comparison(baseline, X, batch, scale=True, categorical=True))
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
