"""Assembly of the scIB table: baselines, failed methods, scaling."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

import mima.evaluate.scib_tables as tables
from mima.embeddings import embedding_file


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
