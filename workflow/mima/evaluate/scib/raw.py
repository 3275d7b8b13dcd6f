"""Every raw scIB metric of one embedding (:func:`scib_raw`), as a pure
function of ``(embedding, labels, batch)``: the one neighbour search, the
threads, and which metrics can be computed.

The metrics follow scib-metrics 0.5.10 (see :mod:`mima.evaluate.scib`).
cLISI, iLISI (90-NN), graph connectivity (15-NN graph) and PCR comparison
(against ``baseline``, categorical batch) are scib-metrics' own functions,
called here; the silhouettes (:mod:`.silhouette`), KMeans and Leiden
(:mod:`.clustering`) and kBET (:mod:`.kbet`) are re-implemented.

Excluded labels: cells whose label (case-insensitive) is in
``exclude_labels``, or is missing, are left out of the bio metrics only; the
batch metrics use all cells, and the label-aware ones (``silhouette_batch``,
``kbet``, ``graph_connectivity``) treat an excluded label as one more group.

Metrics that cannot be computed are NaN in :func:`scib_raw`'s result, with a
logged notice saying why (the scIB table leaves them out, see
:mod:`mima.evaluate.scib.tables`):

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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

from .clustering import kmeans_nmi_ari, leiden_nmi_ari
from .definitions import (BATCH_METRICS, BIO_METRICS, EXCLUDE_LABELS, METRICS, N_NEIGHBORS_CLUSTER,
                          N_NEIGHBORS_KBET, SCIB_METRICS_VERSION)
from .kbet import kbet_per_label
from .neighbors import as_matrix, compute_neighbors, first_neighbors
from .silhouette import isolated_labels_score, silhouette_batch, silhouette_samples
from .workers import n_workers, thread_limits

log = logging.getLogger(__name__)


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
            res = leiden_nmi_ari(first_neighbors(nnb, N_NEIGHBORS_CLUSTER), lb, seed=seed, n_jobs=n_jobs)
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
            out["kbet"] = kbet_per_label(first_neighbors(nn, N_NEIGHBORS_KBET), batch, labels, seed=seed, n_jobs=n_jobs)
        if np.isnan(out["kbet"]):
            log.info("scIB: every label has one batch or fewer than 10 cells -- kbet is NaN")
    if "graph_connectivity" in wanted:
        with _timed(timings, "graph_connectivity"):
            out["graph_connectivity"] = float(
                scib_metrics.graph_connectivity(first_neighbors(nn, N_NEIGHBORS_CLUSTER), labels))
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
    X = as_matrix(embedding)
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
        baseline = as_matrix(baseline)
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
