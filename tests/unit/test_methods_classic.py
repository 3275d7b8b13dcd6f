"""Classic method adapters (PCA, Harmony, Scanorama, MOFA+): the embedding
contract of DESIGN §2 on a real starter and on simulated CITE-seq, and one
property per method that shows it does its job."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from helpers import shared_dataset
from mima.errors import InputError
from mima.methods import harmony, mofa, pca, scanorama
from mima.preprocess.pca import balanced_concatenation, column_variance, concatenated_pca, pca_embedding

MODALITIES = ["rna", "adt"]
# MOFA+ in tests: few factors, few iterations (the contract does not depend on convergence).
ADAPTERS = {
    "pca": (pca, {}),
    "harmony": (harmony, {}),
    "scanorama": (scanorama, {}),
    "mofa": (mofa, {"n_factors": 5, "iterations": 15}),
}
SEED = 3


# --------------------------------------------------------------------------
# data and cached runs
# --------------------------------------------------------------------------


def _prepare(raw, adt_preprocess, n_top_variance, n_top_mean):
    from mima.preprocess.prepare import prepare_dataset

    settings = {"modalities": {"rna": {"preprocess": "log_normalize", "hvf": True}, "adt": {"preprocess": adt_preprocess}},
                "preprocess": {"n_top_variance": n_top_variance, "n_top_mean": n_top_mean}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rna and adt share some var_names in the starter
        return prepare_dataset(raw, settings)


def _real():
    from mima.data.io import read_paired

    folder = shared_dataset("bmmc_cite_starter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        raw = read_paired(h5ad={m: folder / f"{m}.h5ad" for m in MODALITIES}, batch_key="batch", label_key="cell_type")
    return _prepare(raw, "as_provided", 500, 200)


def _simulated():
    from mima.data.simulate import simulate_cite

    raw = simulate_cite(n_cells=450, n_genes=300, n_proteins=30, n_batches=3, seed=0)
    return _prepare(raw, "log1p", 100, 50)


def _permuted(mdata, seed=1):
    """The dataset with its cells shuffled, and the permutation."""
    perm = np.random.default_rng(seed).permutation(mdata.n_obs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mdata[mdata.obs_names[perm]].copy(), perm


@pytest.fixture(scope="module")
def datasets():
    """Lazily built datasets: ``real`` (skipped when absent) and ``sim``."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = _real() if name == "real" else _simulated()
        return cache[name]

    return get


@pytest.fixture(scope="module")
def embed(datasets):
    """``embed(adapter, dataset, variant)``: cached runs; variant ``base``,
    ``repeat`` (same seed again) or ``permuted`` (cells shuffled)."""
    cache = {}

    def run(adapter, dataset, variant="base"):
        key = (adapter, dataset, variant)
        if key not in cache:
            module, params = ADAPTERS[adapter]
            mdata = datasets(dataset)
            if variant == "permuted":
                mdata, _ = _permuted(mdata)
            cache[key] = module.run(mdata, MODALITIES, dict(params), SEED, 1)
        return cache[key]

    return run


def expected_dims(adapter, mdata):
    """Contracted embedding names and their widths (module docstrings)."""
    n = mdata.n_obs
    features = {m: mdata.mod[m].n_vars for m in MODALITIES}
    per_modality = {m: min(100, n - 1, d - 1) for m, d in features.items()}
    joint = min(100, n - 1, sum(features.values()) - 1)
    if adapter in ("pca", "harmony"):
        dims = {f"{adapter}_{m}": k for m, k in per_modality.items()}
        return {**dims, f"{adapter}_concat": joint}
    if adapter == "scanorama":
        return {f"scanorama_{m}": k for m, k in per_modality.items()}
    return {"mofa": ADAPTERS["mofa"][1]["n_factors"]}  # far fewer than cells and features here


CASES = [(a, d) for a in ADAPTERS for d in ("real", "sim")]


def _knn_same(embedding, labels, k=15):
    """Mean fraction of each cell's k nearest neighbours that share its label."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k + 1).fit(embedding).kneighbors(embedding, return_distance=False)[:, 1:]
    return float((labels[index] == labels[:, None]).mean())


# --------------------------------------------------------------------------
# the contract, every adapter, both datasets
# --------------------------------------------------------------------------


@pytest.mark.parametrize("adapter,dataset", CASES)
def test_embeddings_follow_the_contract(adapter, dataset, datasets, embed):
    mdata = datasets(dataset)
    out = embed(adapter, dataset)
    dims = expected_dims(adapter, mdata)
    assert set(out) == set(dims)
    for name, values in out.items():
        assert isinstance(values, np.ndarray) and values.dtype.kind == "f", name
        assert values.shape == (mdata.n_obs, dims[name]), name
        assert np.isfinite(values).all(), name
        assert values.std(axis=0).max() > 0, f"{name} is constant"


@pytest.mark.parametrize("adapter,dataset", CASES)
def test_rows_follow_the_cells(adapter, dataset, datasets, embed):
    """Shuffling the cells shuffles the embedding rows the same way (the
    order-dependent tools run on cells sorted by name, so exactly)."""
    _, perm = _permuted(datasets(dataset))
    base, shuffled = embed(adapter, dataset), embed(adapter, dataset, "permuted")
    assert set(shuffled) == set(base)
    for name in base:
        scale = np.abs(base[name]).max()
        np.testing.assert_allclose(shuffled[name], base[name][perm], rtol=1e-4, atol=1e-4 * scale, err_msg=name)


@pytest.mark.parametrize("adapter,dataset", CASES)
def test_same_seed_same_output(adapter, dataset, embed):
    base, again = embed(adapter, dataset), embed(adapter, dataset, "repeat")
    for name in base:
        np.testing.assert_array_equal(again[name], base[name], err_msg=name)


@pytest.mark.parametrize("adapter", ["pca", "harmony", "scanorama"])
def test_one_modality_gives_no_joint_embedding(adapter, datasets):
    module, params = ADAPTERS[adapter]
    out = module.run(datasets("sim"), ["adt"], params, SEED, 1)
    assert set(out) == {f"{adapter}_adt"}


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_unknown_parameter_is_rejected(adapter, datasets):
    module, _ = ADAPTERS[adapter]
    with pytest.raises(InputError, match="n_compz"):
        module.run(datasets("sim"), MODALITIES, {"n_compz": 10}, SEED, 1)


def test_missing_batch_is_reported(datasets):
    mdata = datasets("sim").copy()
    del mdata.obs["batch"]
    with pytest.raises(InputError, match="batch"):
        harmony.run(mdata, ["adt"], {}, SEED, 1)


def test_adapters_import_without_their_tools():
    """``import mima.methods.<x>`` stays light: tools load inside ``run``."""
    code = ("import sys, mima.preprocess.pca, mima.methods.pca, mima.methods.harmony, mima.methods.scanorama, "
            "mima.methods.mofa; "
            "print(sorted(m for m in ('sklearn', 'harmonypy', 'scanorama', 'mofapy2', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------
# PCA
# --------------------------------------------------------------------------


def _known_direction(n=300, d=20, seed=0):
    """Data whose first principal direction is ``u``: a strong signal along
    ``u`` plus weak isotropic noise and an offset."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    t = 5.0 * rng.standard_normal(n)
    X = 3.0 + np.outer(t, u) + 0.1 * rng.standard_normal((n, d))
    return X, u


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_pca_recovers_the_first_principal_direction(sparse):
    X, u = _known_direction()
    scores = pca_embedding(sp.csr_matrix(X) if sparse else X, n_comps=5, seed=0)
    assert scores.shape == (300, 5)
    truth = (X - X.mean(axis=0)) @ u  # projection of the centred data on u
    sign = np.sign(scores[:, 0] @ truth)
    np.testing.assert_allclose(sign * scores[:, 0], truth, atol=0.05 * np.abs(truth).max())
    assert scores[:, 0].var() > 100 * scores[:, 1].var()


def test_pca_of_sparse_and_dense_input_agree():
    X, _ = _known_direction()
    X[X < 3.0] = 0.0  # some zeros, so that the sparse matrix is sparse
    dense, sparse = pca_embedding(X, 4, 0), pca_embedding(sp.csr_matrix(X), 4, 0)
    np.testing.assert_allclose(np.abs(sparse), np.abs(dense), atol=1e-8 * np.abs(dense).max())


def test_pca_caps_components_at_the_data_size():
    X = np.random.default_rng(0).standard_normal((30, 8))
    assert pca_embedding(X, 100, 0).shape == (30, 7)
    with pytest.raises(InputError):
        pca_embedding(X[:, :1], 100, 0)


def test_concatenation_keeps_a_wide_modality_from_dominating():
    """A modality with 10x more features carries 10x the raw variance; scaled
    to total variance 1 each, both signals get comparable principal components."""
    rng = np.random.default_rng(0)
    n = 400
    s_narrow, s_wide = rng.standard_normal(n), rng.standard_normal(n)
    narrow = np.outer(s_narrow, np.ones(10)) + 0.05 * rng.standard_normal((n, 10))
    wide = sp.csr_matrix(np.outer(s_wide, np.ones(100)) + 0.05 * rng.standard_normal((n, 100)))

    balanced = balanced_concatenation([narrow, wide])
    assert balanced.shape == (n, 110)
    for block in (balanced[:, :10], balanced[:, 10:]):
        assert column_variance(block).sum() == pytest.approx(1.0)

    def signal_variances(scores):
        """Variance of the PC that tracks each signal (narrow, wide)."""
        corr = np.abs(np.corrcoef(scores.T, np.stack([s_narrow, s_wide]))[:-2, -2:])
        return [scores[:, corr[:, j].argmax()].var() for j in range(2)]

    narrow_var, wide_var = signal_variances(concatenated_pca([narrow, wide], 5, 0))
    assert 0.5 < narrow_var / wide_var < 2.0
    naive_narrow, naive_wide = signal_variances(pca_embedding(np.hstack([narrow, wide.toarray()]), 5, 0))
    assert naive_narrow / naive_wide < 0.2  # the control: unscaled, the wide modality dominates


# --------------------------------------------------------------------------
# Harmony, Scanorama, MOFA+
# --------------------------------------------------------------------------


def test_harmony_orients_z_corr_whatever_the_version():
    z = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(harmony.cells_by_dims(z, 4, 3), z)  # harmonypy >= 2: cells x dims
    np.testing.assert_array_equal(harmony.cells_by_dims(z.T, 4, 3), z)  # harmonypy < 2: dims x cells
    with pytest.raises(ValueError):
        harmony.cells_by_dims(z, 5, 3)


def test_harmony_reduces_batch_separation(datasets, embed):
    """On simulated CITE-seq, kNN neighbours of a cell come from its own
    batch far less often after Harmony than in its PCA input, while the cell
    types stay separated."""
    mdata = datasets("sim")
    batch, label = mdata.obs["batch"].to_numpy(), mdata.obs["label"].to_numpy()
    before, after = embed("pca", "sim"), embed("harmony", "sim")
    for name in ("rna", "adt", "concat"):
        pcs, corrected = before[f"pca_{name}"], after[f"harmony_{name}"]
        assert _knn_same(corrected, batch) < 0.8 * _knn_same(pcs, batch), name
        assert _knn_same(corrected, label) > 0.9 * _knn_same(pcs, label), name


def test_scanorama_reduces_batch_separation(datasets, embed):
    mdata = datasets("sim")
    batch, label = mdata.obs["batch"].to_numpy(), mdata.obs["label"].to_numpy()
    before, after = embed("pca", "sim"), embed("scanorama", "sim")
    for m in MODALITIES:
        assert _knn_same(after[f"scanorama_{m}"], batch) < 0.8 * _knn_same(before[f"pca_{m}"], batch), m
        assert _knn_same(after[f"scanorama_{m}"], label) > 0.9 * _knn_same(before[f"pca_{m}"], label), m


def test_mofa_factors_separate_cell_types(datasets, embed):
    """Even with 5 factors and 15 iterations, MOFA+'s factors carry the
    shared (cell-type) signal: nearest neighbours mostly share the label."""
    label = datasets("sim").obs["label"].to_numpy()
    assert _knn_same(embed("mofa", "sim")["mofa"], label) > 0.8


def test_mofa_single_group_option(datasets):
    out = mofa.run(datasets("sim"), MODALITIES, {"n_factors": 3, "iterations": 5, "groups": "none"}, SEED, 1)
    assert out["mofa"].shape == (datasets("sim").n_obs, 3)
    with pytest.raises(InputError, match="groups"):
        mofa.run(datasets("sim"), MODALITIES, {"groups": "donor"}, SEED, 1)


def test_mofa_logs_its_iterations_as_progress(datasets, caplog):
    caplog.set_level(logging.INFO, logger="mima.methods.mofa")
    mofa.run(datasets("sim"), MODALITIES, {"n_factors": 3, "iterations": 5, "groups": "none"}, SEED, 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "mima.methods.mofa"]
    assert any(re.match(r"training mofa: [1-5] of 5 iterations \(\d+ s\)", line) for line in lines), lines
    assert any(line.startswith("trained mofa: ") for line in lines), lines
