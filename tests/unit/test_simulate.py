"""Tests of the paired multi-omics simulators (mima.data.simulate)."""

from __future__ import annotations

import re

import mudata as md
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from mima.data.simulate import (
    K_BATCH,
    K_PRIVATE,
    K_SHARED,
    simulate,
    simulate_cite,
    simulate_multiome,
    simulate_spatial,
)
from mima.errors import InputError

COUNT_MODALITIES = {"rna", "adt", "atac"}
SMALL = {
    "cite": dict(n_cells=150, n_genes=60, n_proteins=20),
    "multiome": dict(n_cells=150, n_genes=60, n_peaks=120),
    "spatial": dict(n_patients=2, grid=(6, 6), n_genes=40, n_lipids=15, n_morphology=16),
}


@pytest.fixture(scope="module")
def datasets():
    """Default-size data sets, simulated once for the module."""
    return {"cite": simulate_cite(), "multiome": simulate_multiome(), "spatial": simulate_spatial()}


@pytest.fixture(scope="module")
def embedding(datasets):
    """``embedding(kind, modality)``: the modality's PCA, computed once per module."""
    cache = {}

    def get(kind, modality):
        if (kind, modality) not in cache:
            cache[kind, modality] = _embed(datasets[kind].mod[modality], modality)
        return cache[kind, modality]

    return get


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _embed(adata, modality):
    """PCA of the usual normalisation: log-normalised counts, log1p MSI, raw morphology."""
    X = _dense(adata.X).astype(np.float64)
    if modality in COUNT_MODALITIES:
        X = np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)
    elif modality == "msi":
        X = np.log1p(X)
    X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    solver = "covariance_eigh" if X.shape[1] <= 1000 else "randomized"  # the faster here
    return PCA(n_components=20, svd_solver=solver, random_state=0).fit_transform(X.astype(np.float32))


def _knn_accuracy(Z, y):
    y = np.asarray(y).astype(str)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    return cross_val_score(KNeighborsClassifier(n_neighbors=15), Z, y, cv=folds).mean()


def _all_arrays(mdata):
    """Every array of a simulated MuData, by name, for exact comparison."""
    out = {f"obsm/{k}": np.asarray(v) for k, v in mdata.obsm.items()}
    out["batch"] = mdata.obs["batch"].astype(str).to_numpy()
    out["label"] = mdata.obs["label"].astype(str).to_numpy()
    for name, adata in mdata.mod.items():
        out[f"{name}/X"] = _dense(adata.X)
        out[f"{name}/var_names"] = adata.var_names.to_numpy()
        out[f"{name}/true_private"] = adata.obsm["true_private"]
    return out


# --------------------------------------------------------------------------
# determinism and dispatch
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cite", "multiome", "spatial"])
def test_same_seed_gives_identical_output(kind):
    a = _all_arrays(simulate(kind, seed=3, **SMALL[kind]))
    b = _all_arrays(simulate(kind, seed=3, **SMALL[kind]))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert a[key].dtype == b[key].dtype


@pytest.mark.parametrize("kind", ["cite", "multiome", "spatial"])
def test_different_seeds_differ(kind):
    a = _all_arrays(simulate(kind, seed=1, **SMALL[kind]))
    b = _all_arrays(simulate(kind, seed=2, **SMALL[kind]))
    for key in ("obsm/true_shared", "rna/X"):
        assert not np.array_equal(a[key], b[key]), key


def test_unknown_kind_lists_valid_kinds():
    with pytest.raises(InputError, match=r"kind.*cite, multiome, spatial"):
        simulate("bulk")


def test_non_positive_size_is_an_input_error():
    with pytest.raises(InputError, match="n_cells"):
        simulate_cite(n_cells=0)


# --------------------------------------------------------------------------
# the data contract
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["cite", "multiome", "spatial"])
def test_contract_fields(datasets, kind):
    mdata = datasets[kind]
    n = mdata.n_obs
    expected_mods = {"cite": ["rna", "adt"], "multiome": ["rna", "atac"],
                     "spatial": ["rna", "msi", "morphology"]}[kind]
    assert list(mdata.mod) == expected_mods
    for key in ("batch", "label"):
        assert mdata.obs[key].dtype == "category", key
        assert not mdata.obs[key].isna().any(), key
    names = [f"cell_{i:05d}" for i in range(n)]
    assert list(mdata.obs_names) == names
    for name, adata in mdata.mod.items():
        assert list(adata.obs_names) == names, name
        assert adata.X.dtype == np.float32, name
        assert adata.obsm["true_private"].shape == (n, K_PRIVATE), name
        if name in COUNT_MODALITIES:
            assert sp.isspmatrix_csr(adata.X), name
            counts = adata.layers["counts"]
            assert (counts != adata.X).nnz == 0, name
            assert np.all(counts.data >= 0) and np.all(counts.data == np.round(counts.data)), name
        else:
            assert isinstance(adata.X, np.ndarray), name
            assert "counts" not in adata.layers, name
    assert mdata.obsm["true_shared"].shape == (n, K_SHARED)
    info = mdata.uns["simulation"]
    assert info["kind"] == kind and info["seed"] == 0
    assert info["params"]["k_shared"] == K_SHARED
    # adding a modality's var names must not collide across modalities
    all_vars = np.concatenate([a.var_names.to_numpy() for a in mdata.mod.values()])
    assert len(set(all_vars)) == len(all_vars)


@pytest.mark.parametrize("kind", ["cite", "multiome", "spatial"])
def test_true_batch_is_one_vector_per_batch(datasets, kind):
    mdata = datasets[kind]
    true_batch = mdata.obsm["true_batch"]
    assert true_batch.shape == (mdata.n_obs, K_BATCH)
    batch = mdata.obs["batch"].to_numpy()
    vectors = []
    for b in np.unique(batch):
        rows = true_batch[batch == b]
        assert np.all(rows == rows[0]), b
        vectors.append(rows[0])
    assert len(np.unique(np.round(vectors, 6), axis=0)) == len(vectors)


def test_msi_non_negative_and_morphology_dense(datasets):
    mdata = datasets["spatial"]
    assert mdata.mod["msi"].X.min() >= 0
    morph = mdata.mod["morphology"].X
    assert morph.shape[1] == 512 and np.count_nonzero(morph) == morph.size


@pytest.mark.parametrize("kind", ["cite", "multiome", "spatial"])
def test_h5mu_round_trip(datasets, kind, tmp_path):
    mdata = datasets[kind]
    path = tmp_path / f"{kind}.h5mu"
    mdata.write(path)
    back = md.read_h5mu(path)
    before, after = _all_arrays(mdata), _all_arrays(back)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    assert back.uns["simulation"]["kind"] == kind
    assert back.obs["batch"].dtype == "category"
    for name in COUNT_MODALITIES & set(back.mod):
        assert "counts" in back.mod[name].layers


# --------------------------------------------------------------------------
# multiome peaks
# --------------------------------------------------------------------------


def test_atac_peak_names_parse_sort_and_cluster(datasets):
    atac = datasets["multiome"].mod["atac"]
    chrom_order = {f"chr{i}": i for i in range(1, 23)} | {"chrX": 23}
    parsed = []
    for name in atac.var_names:
        match = re.fullmatch(r"(chr(?:\d+|X))-(\d+)-(\d+)", name)
        assert match, name
        chrom, start, end = match.group(1), int(match.group(2)), int(match.group(3))
        assert chrom in chrom_order and 200 <= end - start <= 1000, name
        parsed.append((chrom_order[chrom], start, end))
    assert parsed == sorted(parsed)
    windows = [(c, (s + e) // 2 // 5000) for c, s, e in parsed]
    _, per_window = np.unique(np.array(windows), axis=0, return_counts=True)
    shared = per_window[per_window >= 2].sum()
    assert shared >= 0.2 * len(parsed), "too few peaks share a 5 kb window"
    assert per_window.max() >= 3


def test_atac_counts_are_sparse_and_low(datasets):
    X = datasets["multiome"].mod["atac"].X
    assert X.nnz < 0.5 * X.shape[0] * X.shape[1]
    assert np.mean(X.data <= 2) > 0.8


# --------------------------------------------------------------------------
# spatial layout
# --------------------------------------------------------------------------


def test_spatial_samples_and_grid(datasets):
    mdata = datasets["spatial"]
    samples = list(mdata.obs["batch"].cat.categories)
    assert len(samples) == 16
    assert samples[:2] == ["P01_cancer", "P01_normal"]
    assert all(re.fullmatch(r"P\d{2}_(cancer|normal)", s) for s in samples)
    xy = mdata.obsm["spatial"]
    assert xy.shape == (mdata.n_obs, 2)
    for s in samples:
        coords = xy[(mdata.obs["batch"] == s).to_numpy()]
        assert len(coords) == 256 and len(np.unique(coords, axis=0)) == 256, s


def test_spatial_classes(datasets):
    obs = datasets["spatial"].obs
    label = obs["label"].astype(str)
    classes = set(label) - {"unlabelled"}
    assert len(classes) >= 8
    n_unlabelled = int((label == "unlabelled").sum())
    assert 0 < n_unlabelled < 0.02 * len(label)
    samples_per_class = obs.groupby(label, observed=True)["batch"].nunique()
    assert (samples_per_class == 1).any(), "no class confined to one sample"
    fractions = label.value_counts(normalize=True)
    assert (fractions < 0.01).sum() >= 2, "no rare classes"
    tumour = label.str.startswith("tumour")
    assert tumour.any()
    assert obs.loc[tumour, "batch"].astype(str).str.endswith("_cancer").all()


def test_spatial_labels_are_contiguous(datasets):
    mdata = datasets["spatial"]
    xy = mdata.obsm["spatial"].astype(int)
    label = mdata.obs["label"].astype(str).to_numpy()
    batch = mdata.obs["batch"].astype(str).to_numpy()
    lookup = {(b, x, y): lab for b, (x, y), lab in zip(batch, xy, label)}
    same = total = 0
    for (b, x, y), lab in lookup.items():
        for dx, dy in ((1, 0), (0, 1)):
            other = lookup.get((b, x + dx, y + dy))
            if other is not None:
                total += 1
                same += other == lab
    assert same / total > 0.8
    # shuffled labels would not be contiguous: the test can fail
    rng = np.random.default_rng(0)
    shuffled = dict(zip(lookup, rng.permutation(list(lookup.values()))))
    same_shuffled = sum(
        shuffled.get((b, x + 1, y)) == lab for (b, x, y), lab in shuffled.items()
    )
    assert same_shuffled / len(shuffled) < 0.6


# --------------------------------------------------------------------------
# the factors matter
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,modality",
    [("cite", "rna"), ("cite", "adt"), ("multiome", "rna"), ("multiome", "atac"),
     ("spatial", "rna"), ("spatial", "msi"), ("spatial", "morphology")],
)
def test_cell_type_predictable_from_each_modality(datasets, embedding, kind, modality):
    mdata = datasets[kind]
    Z = embedding(kind, modality)
    label = mdata.obs["label"].astype(str).to_numpy()
    keep = label != "unlabelled"
    assert _knn_accuracy(Z[keep], label[keep]) > 0.8


@pytest.mark.parametrize("kind", ["cite", "multiome", "spatial"])
def test_batch_visible_in_rna_but_not_dominant(datasets, embedding, kind):
    mdata = datasets[kind]
    Z = embedding(kind, "rna")
    batch = mdata.obs["batch"].astype(str).to_numpy()
    chance = 1.0 / len(np.unique(batch))
    batch_acc = _knn_accuracy(Z, batch)
    assert batch_acc > chance + 0.5 * (1 - chance)
    # the biology survives the batch effect
    label = mdata.obs["label"].astype(str).to_numpy()
    assert _knn_accuracy(Z, label) > 0.9


def test_msi_batch_effect_stronger_than_morphology(datasets, embedding):
    batch = datasets["spatial"].obs["batch"].astype(str).to_numpy()
    msi_acc = _knn_accuracy(embedding("spatial", "msi"), batch)
    morph_acc = _knn_accuracy(embedding("spatial", "morphology"), batch)
    assert msi_acc > 0.8
    assert morph_acc < 0.4
    assert msi_acc > morph_acc + 0.4


def test_shared_factor_matches_label(datasets):
    mdata = datasets["cite"]
    label = mdata.obs["label"].astype(str).to_numpy()
    assert _knn_accuracy(mdata.obsm["true_shared"], label) > 0.95
    # the private factor carries no cell type
    private = mdata.mod["rna"].obsm["true_private"]
    top = np.mean(label == mdata.obs["label"].value_counts().index[0])
    assert _knn_accuracy(private, label) < top + 0.1
