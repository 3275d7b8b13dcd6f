"""Tests of the scIB metrics (mima.evaluate.scib).

Small synthetic data only; the first kBET / Leiden call of the process pays
numba / jax compilation (~40 s), everything else is fast.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

scib_metrics = pytest.importorskip("scib_metrics")

from mima.evaluate import scib as S  # noqa: E402

N_LABELS, N_BATCHES, N_CELLS = 4, 3, 300


def _same(a: dict, b: dict) -> bool:
    """Equal dicts of floats, NaN == NaN."""
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


@pytest.fixture(scope="module")
def data():
    """300 cells: 4 balanced labels x 3 batches, label-separated 10-d embedding."""
    rng = np.random.default_rng(1)
    lab = np.repeat(np.arange(N_LABELS), N_CELLS // N_LABELS)
    bat = np.tile(np.arange(N_BATCHES), N_CELLS // N_BATCHES)
    centres = rng.normal(scale=5.0, size=(N_LABELS, 10))
    mixed = centres[lab] + rng.normal(size=(N_CELLS, 10))
    return {
        "lab": lab,
        "labels": np.array([f"type{i}" for i in lab], dtype=object),
        "batch": np.array([f"sample{i}" for i in bat], dtype=object),
        "onehot": np.eye(N_LABELS)[lab] + 0.01 * rng.normal(size=(N_CELLS, N_LABELS)),
        "noise": rng.normal(size=(N_CELLS, N_LABELS)),
        "mixed": mixed,
        "separated": mixed + 20.0 * np.eye(10)[bat],  # batches far apart
    }


@pytest.fixture(scope="module")
def full(data):
    """All twelve metrics of the mixed embedding (baseline: the separated one)."""
    return S.scib_raw(data["mixed"], data["labels"], data["batch"], baseline=data["separated"])


# --------------------------------------------------------------------------
# what the metrics measure


def test_metric_names():
    assert S.BIO_METRICS == ("isolated_labels", "leiden_nmi", "leiden_ari", "kmeans_nmi", "kmeans_ari",
                             "silhouette_label", "clisi")
    assert S.BATCH_METRICS == ("silhouette_batch", "ilisi", "kbet", "graph_connectivity", "pcr_comparison")


def test_full_run_returns_every_metric_finite(full):
    assert list(full) == list(S.BIO_METRICS + S.BATCH_METRICS)
    assert all(np.isfinite(v) for v in full.values())
    assert all(-1e-9 <= v <= 1 + 1e-9 for k, v in full.items() if not k.endswith("_ari"))


def test_label_embedding_conserves_biology_noise_does_not(data):
    good = S.scib_raw(data["onehot"], data["labels"], None, metrics=S.BIO_METRICS)
    bad = S.scib_raw(data["noise"], data["labels"], None, metrics=S.BIO_METRICS)
    assert np.mean([good[m] for m in S.BIO_METRICS]) > 0.8
    assert min(good[m] for m in S.BIO_METRICS) > 0.8
    for m in ("leiden_nmi", "leiden_ari", "kmeans_nmi", "kmeans_ari"):
        assert bad[m] < 0.3, m
    assert 2 * bad["silhouette_label"] - 1 < 0.3  # unscaled silhouette
    assert np.mean([bad[m] for m in S.BIO_METRICS]) < np.mean([good[m] for m in S.BIO_METRICS]) - 0.4


def test_separated_batches_score_lower_than_mixed(data, full):
    sep = S.scib_raw(data["separated"], data["labels"], data["batch"], baseline=data["separated"],
                     metrics=S.BATCH_METRICS)
    for m in ("silhouette_batch", "ilisi", "kbet", "graph_connectivity"):
        assert sep[m] < full[m] - 0.3, (m, sep[m], full[m])
    # the separated embedding *is* the baseline: no batch variance removed
    assert sep["pcr_comparison"] == pytest.approx(0.0, abs=1e-6)
    assert full["pcr_comparison"] > 0.5


def test_excluded_labels_leave_bio_metrics_only(data, full):
    rng = np.random.default_rng(7)
    labels = data["labels"].copy()
    unl = rng.choice(N_CELLS, size=40, replace=False)
    labels[unl[:25]] = "unlabelled"
    labels[unl[25:]] = "Other"  # case-insensitive
    X = data["mixed"].copy()
    X[unl] = rng.normal(size=(len(unl), X.shape[1]))  # excluded cells sit anywhere
    # (kBET and silhouette_batch left out only to save jax compilations)
    metrics = S.BIO_METRICS + ("ilisi", "graph_connectivity", "pcr_comparison")
    base = S.scib_raw(X, labels, data["batch"], baseline=data["separated"], metrics=metrics)

    # relabelling the excluded cells (among excluded names) changes nothing
    relabelled = labels.copy()
    relabelled[unl] = np.where(labels[unl] == "Other", "UNLABELLED", "other")
    assert _same(S.scib_raw(X, relabelled, data["batch"], baseline=data["separated"], metrics=metrics), base)

    # bio metrics = those of the kept cells alone; moving excluded cells changes none
    keep = np.ones(N_CELLS, bool)
    keep[unl] = False
    alone = S.scib_raw(X[keep], labels[keep], data["batch"][keep], metrics=S.BIO_METRICS)
    moved = X.copy()
    moved[unl] += 3.0
    after = S.scib_raw(moved, labels, data["batch"], metrics=S.BIO_METRICS)
    for m in S.BIO_METRICS:
        assert base[m] == pytest.approx(alone[m], abs=1e-12), m
        assert after[m] == pytest.approx(base[m], abs=1e-12), m

    # ...whereas giving them a real label does change the bio metrics
    real = labels.copy()
    real[unl] = "type0"
    assert not _same(S.scib_raw(X, real, data["batch"], metrics=["silhouette_label", "clisi"]),
                     {m: base[m] if m in ("silhouette_label", "clisi") else math.nan for m in base})
    # batch metrics use every cell (an excluded label is one more group)
    nn = S.compute_neighbors(X)
    assert base["graph_connectivity"] == pytest.approx(
        float(scib_metrics.graph_connectivity(nn.subset_neighbors(15), labels)), abs=1e-12)
    assert base["ilisi"] == pytest.approx(float(scib_metrics.ilisi_knn(nn, data["batch"])), abs=1e-12)
    assert S.bio_mask(["a", "Unlabelled", None, "OTHER", "b"]).tolist() == [True, False, False, False, True]


def test_nan_cases_are_logged(data, caplog):
    with caplog.at_level(logging.INFO, logger="mima.evaluate.scib"):
        one_batch = S.scib_raw(data["mixed"], data["labels"], np.full(N_CELLS, "b"),
                               metrics=["silhouette_label", "silhouette_batch", "ilisi"])
        no_labels = S.scib_raw(data["mixed"], None, data["batch"], metrics=["silhouette_label", "ilisi"])
        no_base = S.scib_raw(data["mixed"], data["labels"], data["batch"], metrics=["pcr_comparison"])
    assert np.isfinite(one_batch["silhouette_label"])
    assert math.isnan(one_batch["silhouette_batch"]) and math.isnan(one_batch["ilisi"])
    assert math.isnan(no_labels["silhouette_label"]) and np.isfinite(no_labels["ilisi"])
    assert math.isnan(no_base["pcr_comparison"])
    text = caplog.text
    assert "one batch" in text and "no labels" in text and "no baseline" in text
    with pytest.raises(ValueError, match="unknown scIB metrics"):
        S.scib_raw(data["mixed"], data["labels"], data["batch"], metrics=["bras"])


# --------------------------------------------------------------------------
# reproducibility and agreement with scib-metrics


def test_same_seed_same_numbers(data, full):
    again = S.scib_raw(data["mixed"], data["labels"], data["batch"], baseline=data["separated"])
    assert _same(again, full)


def test_values_equal_scib_metrics_functions(data, full):
    X, labels, batch = data["mixed"], data["labels"], data["batch"]
    nn = S.compute_neighbors(X, 90)
    X32 = X.astype(np.float32)
    leiden = scib_metrics.nmi_ari_cluster_labels_leiden(nn.subset_neighbors(15), labels, seed=0)
    kmeans = scib_metrics.nmi_ari_cluster_labels_kmeans(X, labels)  # scib-metrics' KMeans seed is 0
    expected = {
        # reimplemented (shared chunked silhouette): within 1e-6
        "silhouette_label": scib_metrics.silhouette_label(X32, labels),
        "isolated_labels": scib_metrics.isolated_labels(X32, labels, batch),
        # scib-metrics' own functions: equal
        "leiden_nmi": leiden["nmi"], "leiden_ari": leiden["ari"],
        "kmeans_nmi": kmeans["nmi"], "kmeans_ari": kmeans["ari"],
        "clisi": scib_metrics.clisi_knn(nn, labels),
        "silhouette_batch": scib_metrics.silhouette_batch(X32, labels, batch),
        "ilisi": scib_metrics.ilisi_knn(nn, batch),
        "kbet": scib_metrics.kbet_per_label(nn.subset_neighbors(50), batch, labels),
        "graph_connectivity": scib_metrics.graph_connectivity(nn.subset_neighbors(15), labels),
        "pcr_comparison": scib_metrics.pcr_comparison(data["separated"], X, batch, categorical=True),
    }
    for m, v in expected.items():
        assert full[m] == pytest.approx(float(v), abs=1e-6), m
    # silhouette_batch here is not BRAS
    assert abs(full["silhouette_batch"] - scib_metrics.bras(X32, labels, batch)) > 1e-3


def test_isolated_labels_match_scib_metrics_with_isolated_label(data):
    labels = data["labels"].copy()
    batch = data["batch"].copy()
    batch[labels == "type0"] = "sample0"  # type0 seen in one batch only: isolated
    ours = S.scib_raw(data["mixed"], labels, batch, metrics=["isolated_labels", "silhouette_label"])
    ref = scib_metrics.isolated_labels(data["mixed"].astype(np.float32), labels, batch)
    assert ours["isolated_labels"] == pytest.approx(float(ref), abs=1e-6)
    assert ours["isolated_labels"] != pytest.approx(ours["silhouette_label"], abs=1e-4)


def test_chunked_silhouette_equals_scib_metrics_and_sklearn():
    from scib_metrics.utils import silhouette_samples as scib_silhouette
    from sklearn.metrics import silhouette_samples as sk_silhouette

    rng = np.random.default_rng(3)
    X = rng.normal(size=(257, 6)) + np.repeat(rng.normal(scale=3, size=(5, 6)), [60, 60, 60, 76, 1], axis=0)
    labels = np.repeat(["a", "b", "c", "d", "single"], [60, 60, 60, 76, 1])
    ours = S.silhouette_samples(X, labels, chunk_size=50)  # several chunks, a ragged last one
    assert np.abs(ours - scib_silhouette(X.astype(np.float32), labels)).max() < 1e-5
    assert np.abs(ours - sk_silhouette(X, labels)).max() < 1e-10
    assert ours[-1] == 0.0  # singleton cluster
    assert np.array_equal(ours, S.silhouette_samples(X, labels))  # chunking does not matter


def test_compute_neighbors_exact_with_self_first():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 5))
    nn = S.compute_neighbors(X, n_neighbors=20)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    assert nn.indices.shape == (120, 20)
    assert (nn.indices[:, 0] == np.arange(120)).all() and (nn.distances[:, 0] == 0).all()
    expected = np.argsort(D, axis=1)[:, :20]
    assert all(set(a) == set(b) for a, b in zip(nn.indices, expected))
    np.testing.assert_allclose(nn.distances, np.take_along_axis(D, nn.indices.astype(int), 1), rtol=1e-6)
    assert S.compute_neighbors(X, n_neighbors=500).n_neighbors == 120  # capped at n_cells


# --------------------------------------------------------------------------
# scaling and aggregation


def _raw(rows):
    return pd.DataFrame([{"dataset": "toy", "method": m, "embedding": e, "metric": k, "value": v}
                         for m, e, k, v in rows])


def test_scale_and_aggregate_hand_computed():
    raw = _raw([
        ("A", "a", "isolated_labels", 0.2), ("B", "b", "isolated_labels", 0.6),  # -> 0, 1
        ("A", "a", "leiden_nmi", 0.5), ("B", "b", "leiden_nmi", 0.5),            # constant -> 0, 0
        ("A", "a", "kmeans_nmi", math.nan), ("B", "b", "kmeans_nmi", 0.3),       # -> NaN, 0
        ("A", "a", "silhouette_batch", 0.9), ("B", "b", "silhouette_batch", 0.7),  # -> 1, 0
        ("A", "a", "ilisi", 0.1), ("B", "b", "ilisi", 0.3),                      # -> 0, 1
        ("A", "a", "kbet", 0.4), ("B", "b", "kbet", 0.1),                        # -> 1, 0
    ])
    out = S.scale_and_aggregate(raw)
    assert list(out.columns) == S.COLUMNS
    assert len(out) == len(raw) + 8
    pd.testing.assert_frame_equal(out.iloc[:len(raw)][S.RAW_COLUMNS], raw)
    scaled = out.set_index(["method", "metric"])["scaled"]
    assert scaled.loc[("A", "isolated_labels")] == 0 and scaled.loc[("B", "isolated_labels")] == 1
    assert scaled.loc[("A", "leiden_nmi")] == 0 and scaled.loc[("B", "leiden_nmi")] == 0
    assert math.isnan(scaled.loc[("A", "kmeans_nmi")]) and scaled.loc[("B", "kmeans_nmi")] == 0
    assert scaled.loc[("A", "silhouette_batch")] == 1 and scaled.loc[("B", "ilisi")] == 1
    # A: bio (0 + 0) / 2 = 0, batch (1 + 0 + 1) / 3 = 2/3
    # B: bio (1 + 0 + 0) / 3 = 1/3, batch (0 + 1 + 0) / 3 = 1/3
    expected = {
        "A": {"bio_conservation": 0.0, "batch_correction": 2 / 3, "total": 0.4 * 2 / 3, "mean": 1 / 3},
        "B": {"bio_conservation": 1 / 3, "batch_correction": 1 / 3, "total": 1 / 3, "mean": 1 / 3},
    }
    agg = out[out["metric"].isin(S.AGGREGATES)]
    assert agg["metric"].tolist() == list(S.AGGREGATES) * 2
    assert (agg["dataset"] == "toy").all() and agg["embedding"].tolist() == ["a"] * 4 + ["b"] * 4
    for _, row in agg.iterrows():
        assert row["scaled"] == pytest.approx(expected[row["method"]][row["metric"]], abs=1e-12)
        assert row["value"] == row["scaled"]


def test_scale_and_aggregate_nan_groups_and_errors():
    only_bio = S.scale_and_aggregate(_raw([("A", "a", "clisi", 0.1), ("B", "b", "clisi", 0.9)]))
    agg = only_bio.set_index(["method", "metric"])["scaled"]
    assert agg.loc[("B", "bio_conservation")] == 1
    assert math.isnan(agg.loc[("B", "batch_correction")]) and math.isnan(agg.loc[("B", "total")])
    with pytest.raises(ValueError, match="one dataset"):
        two = _raw([("A", "a", "clisi", 0.1)])
        S.scale_and_aggregate(pd.concat([two, two.assign(dataset="other")]))
    with pytest.raises(ValueError, match="duplicate"):
        S.scale_and_aggregate(_raw([("A", "a", "clisi", 0.1), ("A", "a", "clisi", 0.2)]))
