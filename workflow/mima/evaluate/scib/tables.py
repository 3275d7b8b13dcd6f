"""The scIB table of one dataset (DESIGN §2, §4): scaling and aggregation
of the raw metrics (:func:`scale_and_aggregate`, as scib-metrics 0.5.10's
``Benchmarker.get_results(min_max_scale=True)``), and the table itself.

``tables/scib.tsv`` — columns ``dataset, method, embedding, metric, value,
scaled, status, reason``: the raw value of every metric of every embedding
of every method, its min-max scaled value over the dataset's embeddings,
and per embedding the rows ``bio_conservation``, ``batch_correction``,
``total`` (0.6 bio + 0.4 batch) and ``mean``. A failed method has one row
with ``status = failed`` and the reason (its ``value`` and ``scaled`` are
empty).

- ``metric``: one of :data:`BIO_METRICS`, :data:`BATCH_METRICS`, or an
  aggregate of :data:`AGGREGATES` (``bio_conservation``,
  ``batch_correction``, ``total``, ``mean``).
- ``value``: the raw metric value (:func:`mima.evaluate.scib.raw.scib_raw`).
- ``scaled``: the value min-max scaled over the dataset's embeddings (all
  ``(method, embedding)`` pairs) for that metric (:func:`scale_and_aggregate`).
- Aggregate rows (one set per embedding) carry their score in both
  ``value`` and ``scaled``: ``bio_conservation`` / ``batch_correction`` are
  the means of the scaled bio / batch metrics (NaN ignored), ``total`` is
  0.6 bio + 0.4 batch (scIB's weighting) and ``mean`` is (bio + batch) / 2.

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
- likewise any other metric :func:`mima.evaluate.scib.raw.scib_raw` returns
  as NaN (e.g. ``pcr_comparison`` without a PCA baseline, ``kbet`` when
  every label is in one batch), and any aggregate left without a metric.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...status import STATUS_COLUMNS, failed_rows, is_ok, ok_rows, reason, row_status
from .definitions import AGGREGATES, BATCH_METRICS, BATCH_WEIGHT, BIO_METRICS, BIO_WEIGHT
from .raw import scib_raw

log = logging.getLogger(__name__)

#: Columns of the scIB table.
COLUMNS = ["dataset", "method", "embedding", "metric", "value", "scaled", *STATUS_COLUMNS]


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
        Seed of :func:`~mima.evaluate.scib.raw.scib_raw`.
    n_jobs
        Cores :func:`~mima.evaluate.scib.raw.scib_raw` may use.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, one row per (embedding, metric) with the
        raw value -- NaN where a metric could not be computed, which
        :func:`scib_table` leaves out -- or one ``failed`` row.
    """
    method = str(embeddings.uns["method"]["name"])
    if not is_ok(embeddings):
        return pd.DataFrame([{"dataset": dataset, "method": method, "embedding": "", "metric": "", "value": np.nan,
                              "scaled": np.nan, **row_status(reason(embeddings))}],
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
                  "scaled": np.nan, **row_status()} for metric, value in raw.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def _drop_missing(table: pd.DataFrame, what: str) -> pd.DataFrame:
    """``table`` without its NaN-valued rows, with one notice per embedding."""
    missing = table["value"].isna()
    for (method, embedding), group in table[missing].groupby(["method", "embedding"], sort=False):
        log.info("notice: scIB: %s/%s: %s %s could not be computed -- left out of the table", method, embedding,
                 what, ", ".join(group["metric"]))
    return table[~missing]


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
    required = ["dataset", "method", "embedding", "metric", "value"]
    missing = [c for c in required if c not in raw.columns]
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
    agg = pd.DataFrame(rows, columns=[*required, "scaled"]).reindex(columns=columns)
    return pd.concat([df, agg], ignore_index=True) if rows else df


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
    ok = _drop_missing(raw[ok_rows(raw)], "metrics")
    if len(ok):
        scored = scale_and_aggregate(ok[["dataset", "method", "embedding", "metric", "value"]])
        is_aggregate = scored["metric"].isin(AGGREGATES)
        scored = pd.concat([scored[~is_aggregate], _drop_missing(scored[is_aggregate], "aggregates")])
    else:
        scored = ok
    scored = scored.assign(**row_status())
    return pd.concat([scored, failed_rows(raw)], ignore_index=True).reindex(columns=COLUMNS)
