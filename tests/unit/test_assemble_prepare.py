"""Raw datasets from every source, the prepared-dataset contract, folds."""

from __future__ import annotations

import gzip
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mima.data.assemble import assemble_raw
from mima.data.folds import within_sample_folds
from mima.errors import InputError
from mima.preprocess.prepare import prepare_dataset


def geo_like(n=30):
    """One AnnData with GEX and ADT features, as the GSE194122 files."""
    rng = np.random.default_rng(0)
    counts = sp.csr_matrix(rng.poisson(2, (n, 12)).astype(np.float32))
    var = pd.DataFrame({"feature_types": ["GEX"] * 8 + ["ADT"] * 4}, index=[f"g{i}" for i in range(8)] + [f"p{i}" for i in range(4)])
    obs = pd.DataFrame({"batch": ["s1d1"] * (n // 2) + ["s1d2"] * (n - n // 2), "cell_type": ["B", "T", "NK"] * (n // 3)},
                       index=[f"cell{i}" for i in range(n)])
    adata = ad.AnnData(counts.copy(), obs=obs, var=var)
    adata.layers["counts"] = counts
    return adata


def test_geo_file_is_split_by_feature_type(tmp_path):
    plain = tmp_path / "geo.h5ad"
    geo_like().write_h5ad(plain)
    packed = tmp_path / "GSE194122_cite_processed.h5ad.gz"
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    settings = {"name": "g", "source": "geo", "seed": 0, "modalities": {"rna": {}, "adt": {}},
                "batch_key": "batch", "label_key": "cell_type"}
    raw = assemble_raw(settings, {"geo": str(packed)})
    assert list(raw.mod) == ["rna", "adt"]
    assert raw.mod["rna"].n_vars == 8 and raw.mod["adt"].n_vars == 4
    assert list(raw.obs["label"][:3]) == ["B", "T", "NK"] and set(raw.obs["batch"]) == {"s1d1", "s1d2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GSE194122_cite_processed.h5ad.gz", "geo.h5ad"]  # temp file gone


def test_zenodo_layout_mismatch_names_the_files_present(tmp_path):
    (tmp_path / "visium.h5ad").write_bytes(b"")
    settings = {"name": "z", "source": "zenodo", "seed": 0, "record": "1", "modalities": {"rna": {}},
                "files": {"rna": "rna.h5ad"}, "batch_key": "sample"}
    with pytest.raises(InputError, match=r"datasets\.z\.files\.rna.*visium\.h5ad"):
        assemble_raw(settings, {"zenodo": str(tmp_path)})


def simulated(kind="cite", **extra):
    params = {"cite": {"n_cells": 120, "n_genes": 80, "n_proteins": 10},
              "multiome": {"n_cells": 120, "n_genes": 80, "n_peaks": 300},
              "spatial": {"n_patients": 1, "grid": [6, 6], "n_genes": 60, "n_lipids": 10, "n_morphology": 8}}[kind]
    return {"name": kind, "source": "simulate", "seed": 0, "simulate": {"kind": kind, **params}, **extra}


def test_prepared_contract_for_each_preprocessing():
    settings = simulated("multiome", modalities={"rna": {"preprocess": "log_normalize", "hvf": True},
                                                 "atac": {"preprocess": "atac_bins"}},
                         preprocess={"target_sum": 1e4, "atac_bin_size": 5000, "n_top_variance": 40, "n_top_mean": 20})
    raw = assemble_raw(settings, {})
    prepared = prepare_dataset(raw, settings)
    rna, atac = prepared.mod["rna"], prepared.mod["atac"]
    counts = raw.mod["rna"].layers["counts"].toarray()
    expected = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)
    np.testing.assert_allclose(rna.X.toarray(), expected, rtol=1e-5)
    assert rna.X.dtype == np.float32 and sp.issparse(rna.X)
    assert int(rna.var["hvf"].sum()) == 20 and bool(atac.var["hvf"].all())
    assert atac.n_vars < raw.mod["atac"].n_vars  # several peaks per 5 kb bin
    assert atac.layers["counts"].sum() == pytest.approx(raw.mod["atac"].layers["counts"].sum())
    np.testing.assert_allclose(atac.X.toarray(), np.log1p(atac.layers["counts"].toarray()), rtol=1e-6)
    assert list(prepared.obs["batch"]) == list(raw.obs["batch"]) and "label" in prepared.obs
    assert "true_shared" in prepared.obsm  # simulated ground truth travels along


def test_modality_order_and_spatial_coordinates_are_kept():
    settings = simulated("spatial", modalities={"msi": {"preprocess": "log1p"}, "rna": {"preprocess": "log_normalize"},
                                                "morphology": {"preprocess": "as_provided"}})
    raw = assemble_raw(dict(settings, modalities={"rna": {}, "msi": {}, "morphology": {}}), {})
    prepared = prepare_dataset(raw, settings)
    assert list(prepared.mod) == ["msi", "rna", "morphology"]
    np.testing.assert_array_equal(prepared.obsm["spatial"], raw.obsm["spatial"])
    np.testing.assert_allclose(prepared.mod["msi"].X, np.log1p(raw.mod["msi"].X), rtol=1e-6)


def test_prepare_rejects_a_modality_absent_from_the_data():
    settings = simulated(modalities={"rna": {"preprocess": "log_normalize"}})
    raw = assemble_raw(settings, {})
    with pytest.raises(InputError, match="'protein'.*absent"):
        prepare_dataset(raw, dict(settings, modalities={"rna": {}, "protein": {}}), source="raw.h5mu")


def test_prepare_rejects_non_integer_counts():
    settings = simulated(modalities={"rna": {"preprocess": "log_normalize"}})
    raw = assemble_raw(settings, {})
    raw.mod["rna"].layers["counts"] = raw.mod["rna"].layers["counts"] * 0.5  # odd counts become x.5
    with pytest.raises(InputError, match=r"raw\.h5mu.*counts"):
        prepare_dataset(raw, settings, source="raw.h5mu")


def test_folds_are_balanced_within_each_sample_and_seeded():
    batch = pd.Series(["a"] * 10 + ["b"] * 7, index=[f"c{i}" for i in range(17)])
    folds = within_sample_folds(batch, n_folds=4, seed=3)
    assert list(folds["cell"]) == list(batch.index)
    for sample, group in folds.groupby("batch"):
        counts = group["fold"].value_counts()
        assert counts.max() - counts.min() <= 1 and set(counts.index) == {0, 1, 2, 3}
    pd.testing.assert_frame_equal(folds, within_sample_folds(batch, n_folds=4, seed=3))
    assert not folds["fold"].equals(within_sample_folds(batch, n_folds=4, seed=4)["fold"])


def spatial_pair(folder):
    """rna.h5ad and msi.h5ad of 8 spots, obs columns sample / region, obsm 'coords'."""
    folder.mkdir(parents=True, exist_ok=True)
    obs = pd.DataFrame({"sample": ["p1"] * 4 + ["p2"] * 4, "region": ["tumour", "normal"] * 4},
                       index=[f"spot{i}" for i in range(8)])
    paths = {}
    for modality, n_vars in (("rna", 5), ("msi", 3)):
        var = pd.DataFrame(index=[f"{modality}{j}" for j in range(n_vars)])
        adata = ad.AnnData(np.ones((8, n_vars), dtype=np.float32), obs=obs.copy(), var=var)
        adata.obsm["coords"] = np.arange(16, dtype=float).reshape(8, 2)
        paths[modality] = str(folder / f"{modality}.h5ad")
        adata.write_h5ad(paths[modality])
    return paths


@pytest.mark.parametrize("key, value, field, listed", [
    ("batch_key", "patient", "obs column 'patient'", "sample, region"),
    ("label_key", "annotation", "obs column 'annotation'", "sample, region"),
    ("spatial_key", "spatial", "obsm 'spatial'", "coords"),
])
def test_absent_obs_column_names_the_config_key_and_lists_the_columns(tmp_path, key, value, field, listed):
    paths = spatial_pair(tmp_path / "data")
    settings = {"name": "pca_spatial", "source": "files", "seed": 0, "modalities": {"rna": {}, "msi": {}},
                "files": paths, "batch_key": "sample", **{key: value}}
    with pytest.raises(InputError) as caught:
        assemble_raw(settings, paths)
    message = str(caught.value)
    assert "\n" not in message and paths["rna"] in message and field in message
    assert f"set datasets.pca_spatial.{key} to" in message and listed in message


def test_zenodo_obs_column_error_names_the_dataset(tmp_path):
    paths = spatial_pair(tmp_path / "zenodo")
    settings = {"name": "pca_spatial", "source": "zenodo", "seed": 0, "record": "17369670",
                "modalities": {"rna": {}, "msi": {}}, "files": {"rna": "rna.h5ad", "msi": "msi.h5ad"},
                "batch_key": "sample", "label_key": "annotation"}
    with pytest.raises(InputError, match=r"datasets\.pca_spatial\.label_key.*leave label_key unset"):
        assemble_raw(settings, {"zenodo": str(tmp_path / "zenodo")})
    assert sorted(paths) == ["msi", "rna"]
