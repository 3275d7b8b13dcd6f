"""Tests of the scIB metrics (mima.evaluate.scib).

Small synthetic data only. Every metric computed here is checked against
scib-metrics' own function on the same neighbours and seeds, within
:data:`PARITY` (1e-3, the issue's bound; most agree to 1e-6 or exactly).
The first scib-metrics kBET call of the process pays pynndescent's numba
compilation (~50 s); everything else is fast.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

scib_metrics = pytest.importorskip("scib_metrics")

from mima.evaluate import scib as S  # noqa: E402
from mima.evaluate.scib import clustering, kbet, workers  # noqa: E402

N_LABELS, N_BATCHES, N_CELLS = 4, 3, 300
#: Largest difference allowed from scib-metrics' own value.
PARITY = 1e-3


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
        "silhouette_label": scib_metrics.silhouette_label(X32, labels),
        "isolated_labels": scib_metrics.isolated_labels(X32, labels, batch),
        "leiden_nmi": leiden["nmi"], "leiden_ari": leiden["ari"],
        "kmeans_nmi": kmeans["nmi"], "kmeans_ari": kmeans["ari"],
        "clisi": scib_metrics.clisi_knn(nn, labels),
        "silhouette_batch": scib_metrics.silhouette_batch(X32, labels, batch),
        "ilisi": scib_metrics.ilisi_knn(nn, batch),
        "kbet": scib_metrics.kbet_per_label(nn.subset_neighbors(50), batch, labels),
        "graph_connectivity": scib_metrics.graph_connectivity(nn.subset_neighbors(15), labels),
        "pcr_comparison": scib_metrics.pcr_comparison(data["separated"], X, batch, categorical=True),
    }
    assert expected.keys() == set(S.METRICS)
    for m, v in expected.items():
        assert full[m] == pytest.approx(float(v), abs=PARITY), m
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


# ---- silhouettes


def test_blocked_silhouette_equals_scib_metrics_and_sklearn():
    from scib_metrics.utils import silhouette_samples as scib_silhouette
    from sklearn.metrics import silhouette_samples as sk_silhouette

    rng = np.random.default_rng(3)
    X = rng.normal(size=(257, 6)) + np.repeat(rng.normal(scale=3, size=(5, 6)), [60, 60, 60, 76, 1], axis=0)
    X += 40.0  # far from the origin: the products are centred first
    labels = np.repeat(["a", "b", "c", "d", "single"], [60, 60, 60, 76, 1])
    ours = S.silhouette_samples(X, labels, block_size=16)  # many row blocks and column chunks, ragged ends
    assert np.abs(ours - sk_silhouette(X, labels)).max() < 1e-5
    assert np.abs(ours - scib_silhouette(X.astype(np.float32), labels)).max() < 1e-5
    assert ours[-1] == 0.0  # singleton cluster
    np.testing.assert_allclose(ours, S.silhouette_samples(X, labels), atol=1e-12)  # blocking does not matter


def test_silhouette_of_duplicate_cells_is_exact():
    """Duplicates (e.g. cells without counts) are at distance exactly 0, not
    at the rounding error of a float32 product."""
    from sklearn.metrics import silhouette_samples as sk_silhouette

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(50, 8)) + 30.0, np.repeat(rng.normal(size=(1, 8)) + 31.0, 3, axis=0)])
    labels = np.array(["cells"] * 50 + ["empty"] * 3)
    sums = S.cluster_distance_sums(X, (labels == "empty").astype(int), 2)
    assert (sums[-3:, 1] == 0.0).all()
    np.testing.assert_allclose(S.silhouette_samples(X, labels), sk_silhouette(X, labels), atol=1e-6)


def test_silhouette_batch_equals_scib_metrics_and_skips_like_it():
    rng = np.random.default_rng(8)
    labels = np.repeat(["a", "b", "one_batch", "all_own"], [120, 90, 30, 3])
    batch = np.concatenate([rng.choice(["x", "y", "z"], 120), rng.choice(["x", "y"], 90), ["x"] * 30,
                            ["x", "y", "z"]])
    X = rng.normal(size=(len(labels), 5)) + (batch == "x")[:, None] * 0.8
    ours = S.silhouette_batch(X, labels, batch)
    ref = scib_metrics.silhouette_batch(X.astype(np.float32), labels, batch)
    assert ours == pytest.approx(float(ref), abs=1e-6)
    assert math.isnan(S.silhouette_batch(X[labels == "one_batch"], labels[labels == "one_batch"],
                                         batch[labels == "one_batch"]))


# ---- KMeans


@pytest.fixture(scope="module")
def overlapping():
    """600 cells in 6 overlapping clusters (Lloyd needs many iterations)."""
    rng = np.random.default_rng(9)
    truth = rng.integers(0, 6, 600)
    return rng.normal(scale=1.5, size=(6, 12))[truth] + rng.normal(size=(600, 12)), truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_equals_scib_metrics_kmeans(overlapping, seed):
    from scib_metrics.utils import KMeans

    X, _ = overlapping
    ref = KMeans(6, seed=seed).fit(X.astype(np.float32)).labels_
    assert np.array_equal(S.kmeans_labels(X, 6, seed=seed), ref)


def test_kmeans_stops_like_scib_metrics_before_a_fixed_point(overlapping):
    """With few iterations allowed no fixed point is reached: scib-metrics'
    own stopping rule (iterations, then inertia tolerance) decides."""
    from scib_metrics.utils import KMeans

    X, _ = overlapping
    for max_iter in (1, 2, 3):
        ref = KMeans(6, seed=0, max_iter=max_iter).fit(X.astype(np.float32)).labels_
        assert np.array_equal(S.kmeans_labels(X, 6, seed=0, max_iter=max_iter), ref), max_iter


def test_kmeans_nmi_ari_equal_scib_metrics(overlapping):
    X, truth = overlapping
    labels = np.array([f"t{t}" for t in truth], dtype=object)
    ref = scib_metrics.nmi_ari_cluster_labels_kmeans(X, labels)
    ours = S.kmeans_nmi_ari(X, labels)
    assert ours["nmi"] == pytest.approx(float(ref["nmi"]), abs=1e-12)
    assert ours["ari"] == pytest.approx(float(ref["ari"]), abs=1e-12)


# ---- Leiden


@pytest.mark.parametrize("seed", [0, 42])
def test_leiden_equals_scib_metrics(overlapping, seed):
    X, truth = overlapping
    nn = S.compute_neighbors(X, 15)
    ref = scib_metrics.nmi_ari_cluster_labels_leiden(nn, truth, seed=seed)
    assert S.leiden_nmi_ari(nn, truth, seed=seed) == {"nmi": float(ref["nmi"]), "ari": float(ref["ari"])}


def test_leiden_graph_is_igraphs_weighted_adjacency(overlapping):
    import igraph

    nn = S.compute_neighbors(overlapping[0], 15)
    conn = nn.knn_graph_connectivities
    expected = igraph.Graph.Weighted_Adjacency(conn, mode="directed")
    expected.to_undirected(mode="each")
    ours = clustering._leiden_graph(conn)
    assert ours.get_edgelist() == expected.get_edgelist()
    assert ours.es["weight"] == expected.es["weight"]


# ---- kBET


def _kbet_data():
    """Labels that take every path of scib-metrics' kbet_per_label.

    In sorted order: ``a_small`` (40 cells: fewer diffusion components for
    every later label), ``b_split`` (a 12-cell piece inside ``d_main``: a
    second, small component, left out), ``c_frag`` (under 75 % of its cells in
    large components: score 0), ``d_main``, ``e_one_batch`` (skipped),
    ``f_tiny`` (8 cells, skipped), ``g_main`` (strong batch effect) and
    ``z_ten`` (10 cells: k0 + 1 = 11 neighbours asked of 10 cells).
    """
    rng = np.random.default_rng(11)
    centres = rng.normal(scale=25.0, size=(7, 5))
    three = np.array(["s0", "s1", "s2"], dtype=object)
    parts = []

    def add(label, n, centre, spread, batches, shift=0.0, offset=0.0):
        batch = rng.choice(batches, size=n)
        batch[:len(batches)] = batches
        codes = np.array([int(b[1]) for b in batch])
        X = centres[centre] + spread * rng.normal(size=(n, 5)) + shift * np.eye(5)[codes] + offset
        parts.append((np.full(n, label, dtype=object), batch, X))

    add("a_small", 40, 0, 1.0, three)
    add("b_split", 200, 1, 1.0, three, shift=0.5)
    add("b_split", 12, 3, 0.05, three, offset=np.array([1.5, 0, 0, 0, 0]))
    add("c_frag", 45, 2, 1.0, three)
    add("c_frag", 20, 3, 0.05, three, offset=np.array([0, 0, 1.5, 0, 0]))
    add("d_main", 300, 3, 1.0, three, shift=1.0)
    add("e_one_batch", 60, 4, 1.0, three[:1])
    add("f_tiny", 8, 4, 1.0, three, offset=np.array([0, 5.0, 0, 0, 0]))
    add("g_main", 250, 5, 1.0, three, shift=2.0)
    add("z_ten", 10, 6, 0.3, three[:2])
    return (np.vstack([p[2] for p in parts]), np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]))


@pytest.fixture(scope="module")
def kbet_case():
    X, labels, batch = _kbet_data()
    return S.compute_neighbors(X, 50), labels, batch


def test_kbet_data_take_every_path(kbet_case):
    nn, labels, batch = kbet_case
    plan = kbet._kbet_plan(nn.knn_graph_connectivities.tocsr(), np.asarray(pd.Categorical(batch).codes), labels, 100)
    shapes = {label: (item[0].shape[0], item[2], item[3]) if isinstance(item, tuple) else item
              for label, item in plan.items()}
    assert math.isnan(shapes.pop("e_one_batch")) and math.isnan(shapes.pop("f_tiny"))
    assert shapes == {
        "a_small": (40, 10, 39),   # (cells kept, k0, diffusion components)
        "b_split": (200, 17, 39),  # the 12-cell component left out; 39 components carried over
        "c_frag": 0.0,
        "d_main": (300, 25, 39),
        "g_main": (250, 20, 39),
        "z_ten": (10, 10, 9),      # 11 neighbours of 10 cells
    }


def test_kbet_equals_scib_metrics_per_label(kbet_case):
    nn, labels, batch = kbet_case
    ours, per_label = S.kbet_per_label(nn, batch, labels, return_per_label=True)
    ref, ref_df = scib_metrics.kbet_per_label(nn, batch, labels, return_df=True)
    ref_per_label = ref_df.set_index("cluster")["kBET"].astype(float)
    pd.testing.assert_series_equal(per_label, ref_per_label, check_names=False, atol=PARITY, rtol=0)
    assert ours == pytest.approx(float(ref), abs=PARITY)
    assert 0.1 < per_label["d_main"] < 0.9  # the test decides for some cells and against others


def test_kbet_acceptance_equals_scib_metrics_kbet():
    from scib_metrics.nearest_neighbors import NeighborsResults

    rng = np.random.default_rng(12)
    batches = rng.choice(["p", "q", "r", "s"], size=200, p=[0.4, 0.3, 0.2, 0.1])
    neighbors = np.hstack([np.arange(200)[:, None], rng.integers(0, 200, size=(200, 14))])
    neighbors[:50, 1:] = np.flatnonzero(batches == "p")[:14]  # some cells see one batch only
    ref = scib_metrics.kbet(NeighborsResults(indices=neighbors, distances=np.zeros(neighbors.shape)), batches)[0]
    assert S.kbet_acceptance(neighbors, batches) == pytest.approx(float(ref), abs=1e-12)


def test_nearest_neighbor_indices_exact_with_self_and_padding():
    rng = np.random.default_rng(13)
    E = rng.normal(size=(300, 7)).astype(np.float32)
    D = ((E[:, None, :].astype(np.float64) - E[None, :, :]) ** 2).sum(-1)
    idx = S.nearest_neighbor_indices(E, 12)
    expected = np.argsort(D, axis=1)[:, :12]
    assert all(set(a) == set(b) for a, b in zip(idx, expected))
    padded = S.nearest_neighbor_indices(E[:10], 11)  # pynndescent's -1: the last cell
    assert padded.shape == (10, 11) and (padded[:, 10] == 9).all()
    assert all(set(row[:10]) == set(range(10)) for row in padded)


def test_workers_give_the_same_numbers(kbet_case, overlapping, monkeypatch):
    nn, labels, batch = kbet_case
    serial_kbet = S.kbet_per_label(nn, batch, labels, n_jobs=1)
    leiden_nn = S.compute_neighbors(overlapping[0], 15)
    serial_leiden = S.leiden_nmi_ari(leiden_nn, overlapping[1], n_jobs=1)
    monkeypatch.setattr(workers, "PARALLEL_MIN_CELLS", 0)
    assert S.kbet_per_label(nn, batch, labels, n_jobs=2) == serial_kbet
    assert S.leiden_nmi_ari(leiden_nn, overlapping[1], n_jobs=2) == serial_leiden


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
    assert list(out.columns) == ["dataset", "method", "embedding", "metric", "value", "scaled"]
    assert len(out) == len(raw) + 8
    pd.testing.assert_frame_equal(out.iloc[:len(raw)][list(raw.columns)], raw)
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
