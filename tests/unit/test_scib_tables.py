"""Assembly of the scIB table: baselines, failed methods, scaling, and metrics
that cannot be computed (no labels, one batch)."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mima.embeddings import embedding_file
from mima.evaluate import scib as S
from mima.evaluate.scib import tables


def test_each_embedding_is_compared_with_the_pca_of_its_modalities():
    modalities = ["rna", "adt"]
    assert tables.baseline_key("scvi_rna", modalities) == "pca_rna"
    assert tables.baseline_key("unimodal_private_adt", modalities) == "pca_adt"
    assert tables.baseline_key("poe", modalities) == "pca_concat"
    assert tables.baseline_key("totalvi", ["rna"]) == "pca_rna"


def test_rows_per_embedding_failed_methods_kept_and_scores_aggregated(monkeypatch):
    calls = []

    def fake_raw(embedding, labels, batch, baseline=None, **kwargs):
        calls.append(baseline.shape if baseline is not None else None)
        return {"silhouette_label": float(embedding.mean()), "ilisi": float(embedding.std())}

    monkeypatch.setattr(tables, "scib_raw", fake_raw)
    obs = pd.DataFrame({"batch": ["a", "b"] * 5, "label": ["x"] * 5 + ["y"] * 5}, index=[f"c{i}" for i in range(10)])
    pca = ad.AnnData(obs=obs.copy())
    pca.obsm["pca_rna"] = np.ones((10, 3))
    good = embedding_file(obs, {"e_rna": np.arange(20.0).reshape(10, 2), "joint": np.zeros((10, 2))}, {"name": "m"})
    failed = embedding_file(obs, {}, {"name": "broken"}, status="failed", reason="ValueError: boom")
    raw = pd.concat([tables.method_scib_rows("d", e, obs, ["rna", "adt"], pca, {}) for e in (good, failed)])
    assert calls == [(10, 3), None]  # joint: pca_concat absent from this PCA file
    table = tables.scib_table(raw)
    assert list(table.columns) == tables.COLUMNS
    broken = table[table.method == "broken"]
    assert len(broken) == 1 and broken["status"].iat[0] == "failed" and "boom" in broken["reason"].iat[0]
    scores = table[(table.method == "m") & (table.metric == "silhouette_label")].set_index("embedding")["scaled"]
    assert scores["e_rna"] == 1.0 and scores["joint"] == 0.0
    assert {"bio_conservation", "batch_correction", "total", "mean"} <= set(table.metric)


# --------------------------------------------------------------------------
# data without labels or with one batch (issue #9): a notice, and a NaN-free
# table of what can be computed


def _scored_table(obs: pd.DataFrame, caplog, pca_key: str = "pca_rna") -> pd.DataFrame:
    """The scIB table of two random embeddings ("a_rna", "b_rna") of ``obs``."""
    pytest.importorskip("scib_metrics")
    rng = np.random.default_rng(0)
    n = len(obs)
    codes = pd.Categorical(obs["label"]).codes if "label" in obs else np.zeros(n, int)
    shift = pd.Categorical(obs["batch"]).codes if "batch" in obs else np.zeros(n, int)
    obsm = {name: rng.normal(size=(n, 6)) + 3.0 * codes[:, None] + scale * shift[:, None]
            for name, scale in (("a_rna", 0.5), ("b_rna", 2.0))}
    embeddings = embedding_file(obs, obsm, {"name": "toy"})
    pca = ad.AnnData(obs=obs.copy())
    pca.obsm[pca_key] = rng.normal(size=(n, 6)) + 3.0 * shift[:, None]
    with caplog.at_level(logging.INFO):
        raw = tables.method_scib_rows("toy", embeddings, obs, ["rna"], pca, {"n_neighbors": 15, "leiden": True})
        return tables.scib_table(raw)


def _metrics(table: pd.DataFrame, embedding: str) -> set[str]:
    return set(table.loc[table["embedding"] == embedding, "metric"])


def test_unlabelled_data_keep_the_label_free_batch_metrics_with_a_notice(caplog):
    obs = pd.DataFrame({"batch": ["s1", "s2", "s3"] * 40}, index=[f"c{i}" for i in range(120)])
    table = _scored_table(obs, caplog)
    assert table[["value", "scaled"]].notna().all().all()
    for embedding in ("a_rna", "b_rna"):
        assert _metrics(table, embedding) == {"ilisi", "pcr_comparison", "batch_correction"}
    notices = [r.getMessage() for r in caplog.records if r.getMessage().startswith("notice:")]
    assert any("no 'label' column" in m and "skipped" in m for m in notices), notices
    assert any("no labels" in r.getMessage() for r in caplog.records if r.name == "mima.evaluate.scib.raw")


def test_single_batch_keeps_the_bio_metrics_with_a_notice(caplog):
    obs = pd.DataFrame({"batch": ["only"] * 120, "label": ["A", "B", "C"] * 40}, index=[f"c{i}" for i in range(120)])
    table = _scored_table(obs, caplog)
    assert table[["value", "scaled"]].notna().all().all()
    for embedding in ("a_rna", "b_rna"):
        assert _metrics(table, embedding) == set(S.BIO_METRICS) | {"bio_conservation"}
    notices = [r.getMessage() for r in caplog.records if r.getMessage().startswith("notice:")]
    assert any("one batch" in m and "batch-correction metrics are skipped" in m for m in notices), notices


def test_a_metric_that_cannot_be_computed_is_left_out_with_a_notice(caplog):
    obs = pd.DataFrame({"batch": ["s1", "s2"] * 60, "label": ["A", "B", "C"] * 40}, index=[f"c{i}" for i in range(120)])
    table = _scored_table(obs, caplog, pca_key="pca_other")  # no baseline for pcr_comparison
    assert table[["value", "scaled"]].notna().all().all()
    expected = (set(S.METRICS) - {"pcr_comparison"}) | set(S.AGGREGATES)
    assert _metrics(table, "a_rna") == expected
    assert any("pcr_comparison could not be computed" in r.getMessage() for r in caplog.records)
