"""scIB metrics of an embedding (DESIGN §4) and the scIB table of a dataset.

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

cLISI, iLISI, graph connectivity and PCR comparison are scib-metrics' own
functions. The others are re-implemented for speed -- same definitions,
same inputs, tested against scib-metrics' functions within 1e-3 (most agree
to 1e-6 or exactly) -- because scib-metrics' versions are what made one
90,000-cell embedding take 23 minutes on two cores. Each module's
docstring says how:

- :mod:`.definitions` -- metric names, aggregates and their weights, the
  ``Benchmarker``'s neighbour-list sizes;
- :mod:`.workers` -- threads and worker processes (``n_jobs``);
- :mod:`.neighbors` -- the one kNN search per embedding;
- :mod:`.silhouette` -- ``silhouette_label``, ``isolated_labels``,
  ``silhouette_batch``;
- :mod:`.clustering` -- KMeans and Leiden NMI / ARI;
- :mod:`.kbet` -- kBET;
- :mod:`.raw` -- every raw metric of one embedding (:func:`scib_raw`),
  excluded labels, and which metrics are NaN and why;
- :mod:`.tables` -- min-max scaling and aggregates
  (:func:`scale_and_aggregate`) and the scIB table of a dataset
  (:func:`method_scib_rows`, :func:`scib_table`).

Measured on 2 shared cores (``benchmarks/scib_large.py``, 90,000 x 100, 30
labels, 12 batches): about 1 minute per embedding after a ~10 s one-off
warm-up (kNN search 21 s, Leiden 12 s, label silhouette 11 s, kBET 6 s,
KMeans 3 s), peak RSS 1.7 GB; the previous implementation (scib-metrics'
own KMeans, kBET and batch silhouette) took 3 minutes and 3.9 GB on the
same data at the same load (6 minutes under heavier load).

Seeds: ``seed`` seeds KMeans (jax key), Leiden (igraph's RNG), kBET's ARPACK
start vector and, with ``method="pynndescent"``, the neighbour search. The
same input gives the same numbers, whatever ``n_jobs``.
"""

from __future__ import annotations

from .clustering import kmeans_labels, kmeans_nmi_ari, leiden_nmi_ari
from .definitions import (AGGREGATES, BATCH_METRICS, BATCH_WEIGHT, BIO_METRICS, BIO_WEIGHT, EXCLUDE_LABELS, METRICS,
                          N_NEIGHBORS_CLUSTER, N_NEIGHBORS_KBET, SCIB_METRICS_VERSION)
from .kbet import diffusion_embedding, kbet_acceptance, kbet_per_label, nearest_neighbor_indices
from .neighbors import compute_neighbors
from .raw import bio_mask, scib_raw
from .silhouette import cluster_distance_sums, isolated_labels_score, silhouette_batch, silhouette_samples
from .tables import baseline_key, method_scib_rows, scale_and_aggregate, scib_table
from .workers import n_workers, thread_limits

__all__ = [
    "AGGREGATES", "BATCH_METRICS", "BATCH_WEIGHT", "BIO_METRICS", "BIO_WEIGHT", "EXCLUDE_LABELS", "METRICS",
    "N_NEIGHBORS_CLUSTER", "N_NEIGHBORS_KBET", "SCIB_METRICS_VERSION",
    "baseline_key", "bio_mask", "cluster_distance_sums", "compute_neighbors", "diffusion_embedding",
    "isolated_labels_score", "kbet_acceptance", "kbet_per_label", "kmeans_labels", "kmeans_nmi_ari",
    "leiden_nmi_ari", "method_scib_rows", "n_workers", "nearest_neighbor_indices", "scale_and_aggregate",
    "scib_raw", "scib_table", "silhouette_batch", "silhouette_samples", "thread_limits",
]
