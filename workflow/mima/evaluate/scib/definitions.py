"""What the scIB metrics are: names, aggregates and their weights, and the
neighbour-list sizes, as in **scib-metrics 0.5.10**'s ``Benchmarker``
(see :mod:`mima.evaluate.scib`).

Bio conservation (:data:`BIO_METRICS`, on cells whose label is not in
:data:`EXCLUDE_LABELS`) and batch correction (:data:`BATCH_METRICS`, on
all cells); the aggregates (:data:`AGGREGATES`) are the means of the
scaled bio / batch metrics, ``total`` (:data:`BIO_WEIGHT` bio +
:data:`BATCH_WEIGHT` batch, scIB's weighting) and ``mean``.
"""

from __future__ import annotations

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

#: Weights of the ``total`` score (scIB's).
BIO_WEIGHT = 0.6
BATCH_WEIGHT = 0.4

#: Neighbour-list sizes of scib-metrics' ``Benchmarker``: Leiden and graph
#: connectivity use 15, kBET 50, LISI 90 (all prefixes of one search).
N_NEIGHBORS_CLUSTER = 15
N_NEIGHBORS_KBET = 50

EXCLUDE_LABELS = ("unlabelled", "other")
