"""The scIB table of one dataset (DESIGN §2, §4).

``tables/scib.tsv`` — columns ``dataset, method, embedding, metric, value,
scaled, status, reason``: the raw value of every metric of every embedding
of every method, its min-max scaled value over the dataset's embeddings,
and per embedding the rows ``bio_conservation``, ``batch_correction``,
``total`` (0.6 bio + 0.4 batch) and ``mean``. A failed method has one row
with ``status = failed`` and the reason (its ``value`` and ``scaled`` are
empty).

Metrics that cannot be computed are **absent** from the table, never NaN,
and a notice in the rule's log says which and why:

- **no labels** (the prepared dataset has no ``label`` column): the bio
  metrics (``isolated_labels``, ``leiden_nmi``, ``leiden_ari``,
  ``kmeans_nmi``, ``kmeans_ari``, ``silhouette_label``, ``clisi``) and the
  batch metrics computed within labels (``silhouette_batch``, ``kbet``,
  ``graph_connectivity``) are absent; ``ilisi`` and ``pcr_comparison`` are
  there, with ``batch_correction``; ``bio_conservation``, ``total`` and
  ``mean`` are absent.
- **one batch**: every batch metric (``silhouette_batch``, ``ilisi``,
  ``kbet``, ``graph_connectivity``, ``pcr_comparison``) is absent; the bio
  metrics are there, with ``bio_conservation``; ``batch_correction``,
  ``total`` and ``mean`` are absent.
- likewise any other metric :func:`mima.evaluate.scib.scib_raw` returns as
  NaN (e.g. ``pcr_comparison`` without a PCA baseline, ``kbet`` when every
  label is in one batch), and any aggregate left without a metric.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .scib import AGGREGATES, scale_and_aggregate, scib_raw

log = logging.getLogger(__name__)

COLUMNS = ["dataset", "method", "embedding", "metric", "value", "scaled", "status", "reason"]


def baseline_key(embedding: str, modalities: list[str]) -> str:
    """The PCA an embedding is compared with by PCR comparison: that of its
    modality (name ending in ``_<m>``), else of the concatenated modalities
    (the only modality's for a one-modality dataset)."""
    for m in sorted(modalities, key=len, reverse=True):
        if embedding.endswith(f"_{m}"):
            return f"pca_{m}"
    return "pca_concat" if len(modalities) > 1 else f"pca_{modalities[0]}"


def _labels_and_batches(obs: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``label`` and ``batch`` columns of the prepared obs (None if absent),
    with a notice for what their absence or a single batch skips."""
    labels = obs["label"].astype(str).to_numpy() if "label" in obs else None
    batch = obs["batch"].astype(str).to_numpy() if "batch" in obs else None
    if labels is None:
        log.info("notice: scIB: the dataset has no 'label' column -- the bio-conservation metrics and the batch "
                 "metrics computed within labels (silhouette_batch, kbet, graph_connectivity) are skipped and "
                 "left out of the table; ilisi and pcr_comparison still run")
    if batch is None or len(np.unique(batch)) < 2:
        log.info("notice: scIB: the dataset has one batch -- the batch-correction metrics are skipped and left "
                 "out of the table; the bio-conservation metrics still run")
    return labels, batch


def method_scib_rows(dataset: str, embeddings, obs: pd.DataFrame, modalities: list[str], pca, settings: dict,
                     seed: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """Raw scIB metrics of every embedding in one method's embeddings file.

    Parameters
    ----------
    dataset
        Dataset name.
    embeddings
        The method's embeddings file (AnnData, DESIGN §2).
    obs
        The prepared dataset's obs (``batch``; ``label`` where the data are
        labelled).
    modalities
        The dataset's modalities (they name the PCR baselines).
    pca
        The PCA method's embeddings file (baselines of PCR comparison).
    settings
        ``evaluation.scib`` settings: ``n_neighbors``, ``leiden``, ``unlabelled``.
    seed
        Seed of :func:`mima.evaluate.scib.scib_raw`.
    n_jobs
        Cores :func:`mima.evaluate.scib.scib_raw` may use.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, one row per (embedding, metric) with the
        raw value -- NaN where a metric could not be computed, which
        :func:`scib_table` leaves out -- or one ``failed`` row.
    """
    method = str(embeddings.uns["method"]["name"])
    if embeddings.uns.get("status", "ok") != "ok":
        return pd.DataFrame([{"dataset": dataset, "method": method, "embedding": "", "metric": "", "value": np.nan,
                              "scaled": np.nan, "status": "failed", "reason": str(embeddings.uns.get("reason", ""))}],
                            columns=COLUMNS)
    labels, batch = _labels_and_batches(obs.loc[embeddings.obs_names])
    rows = []
    for name in embeddings.obsm:
        key = baseline_key(name, modalities)
        baseline = np.asarray(pca.obsm[key]) if key in pca.obsm else None
        raw = scib_raw(np.asarray(embeddings.obsm[name]), labels, batch, baseline=baseline,
                       n_neighbors=settings.get("n_neighbors", 90), seed=seed, leiden=settings.get("leiden", True),
                       exclude_labels=tuple(settings.get("unlabelled", ("unlabelled", "other"))), n_jobs=n_jobs)
        rows += [{"dataset": dataset, "method": method, "embedding": name, "metric": metric, "value": value,
                  "scaled": np.nan, "status": "ok", "reason": ""} for metric, value in raw.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def _drop_missing(table: pd.DataFrame, what: str) -> pd.DataFrame:
    """``table`` without its NaN-valued rows, with one notice per embedding."""
    missing = table["value"].isna()
    for (method, embedding), group in table[missing].groupby(["method", "embedding"], sort=False):
        log.info("notice: scIB: %s/%s: %s %s could not be computed -- left out of the table", method, embedding,
                 what, ", ".join(group["metric"]))
    return table[~missing]


def scib_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Scale the raw metrics over the dataset's embeddings and add the
    aggregate scores; failed methods' rows are kept as they are.

    Metrics and aggregates that could not be computed (NaN) are left out,
    with a notice (see the module docstring).

    Parameters
    ----------
    raw
        Rows of :func:`method_scib_rows` of every method of one dataset.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`.
    """
    ok = _drop_missing(raw[raw["status"] == "ok"], "metrics")
    if len(ok):
        scored = scale_and_aggregate(ok[["dataset", "method", "embedding", "metric", "value"]])
        is_aggregate = scored["metric"].isin(AGGREGATES)
        scored = pd.concat([scored[~is_aggregate], _drop_missing(scored[is_aggregate], "aggregates")])
    else:
        scored = ok
    scored = scored.assign(status="ok", reason="")
    return pd.concat([scored, raw[raw["status"] != "ok"]], ignore_index=True).reindex(columns=COLUMNS)
