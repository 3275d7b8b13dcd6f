"""Tests of reading, validating (mima.data.io) and atomically writing (mima.data.atomic_write) user data."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mima.data import io
from mima.data.atomic_write import write_h5ad_atomic, write_h5mu_atomic
from mima.data.io import read_paired, validate_training_input
from mima.data.simulate import simulate_cite, simulate_spatial
from mima.errors import InputError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------


def _small_cite():
    return simulate_cite(n_cells=60, n_genes=30, n_proteins=10, n_batches=2, n_cell_types=3, seed=1)


@pytest.fixture
def cite():
    return _small_cite()


@pytest.fixture
def cite_files(tmp_path):
    """The small CITE data as one h5mu and as two h5ad (batch/label in each obs)."""
    mdata = _small_cite()
    h5mu = tmp_path / "cite.h5mu"
    mdata.write(h5mu)
    paths = {}
    for name, adata in mdata.mod.items():
        adata = adata.copy()
        adata.obs["donor"] = mdata.obs["batch"].to_numpy()
        adata.obs["cell_type"] = mdata.obs["label"].to_numpy()
        paths[name] = tmp_path / f"{name}.h5ad"
        adata.write_h5ad(paths[name])
    return {"h5mu": h5mu, "h5ad": paths, "mdata": mdata}


def _raises(fn, *names):
    """Call ``fn``; assert it raises a one-line InputError naming every ``names``."""
    with pytest.raises(InputError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    assert " -- fix: " in message
    for name in names:
        assert str(name) in message, (name, message)
    return message


def _write_h5ad(adata, path):
    adata.write_h5ad(path)
    return path


# --------------------------------------------------------------------------
# read_paired: good input
# --------------------------------------------------------------------------


def test_read_h5ad_pair_copies_batch_and_label(cite_files):
    mdata = read_paired(h5ad=cite_files["h5ad"], batch_key="donor", label_key="cell_type")
    truth = cite_files["mdata"]
    assert list(mdata.mod) == ["rna", "adt"]
    assert mdata.obs["batch"].dtype == "category"
    assert mdata.obs["label"].dtype == "category"
    np.testing.assert_array_equal(mdata.obs["batch"].astype(str), truth.obs["batch"].astype(str))
    np.testing.assert_array_equal(mdata.obs["label"].astype(str), truth.obs["label"].astype(str))
    np.testing.assert_array_equal(mdata.mod["adt"].X.toarray(), truth.mod["adt"].X.toarray())


def test_read_h5mu_keeps_named_modalities_in_order(cite_files):
    mdata = read_paired(h5mu=cite_files["h5mu"], modalities=["adt"], label_key="label")
    assert list(mdata.mod) == ["adt"]
    assert mdata.n_obs == 60
    np.testing.assert_array_equal(mdata.obsm["true_shared"], cite_files["mdata"].obsm["true_shared"])
    assert "rna" not in mdata.obsm


def test_batch_taken_from_first_modality_that_has_it(tmp_path, cite):
    rna = cite.mod["rna"].copy()
    adt = cite.mod["adt"].copy()
    adt.obs["sample"] = np.where(np.arange(adt.n_obs) < 30, "A", "B")
    paths = {"rna": _write_h5ad(rna, tmp_path / "rna.h5ad"), "adt": _write_h5ad(adt, tmp_path / "adt.h5ad")}
    mdata = read_paired(h5ad=paths, batch_key="sample")
    assert mdata.obs["batch"].dtype == "category"
    assert list(mdata.obs["batch"].cat.categories) == ["A", "B"]
    assert (mdata.obs["batch"].to_numpy()[:30] == "A").all()


def test_spatial_coordinates_copied(tmp_path):
    mdata = simulate_spatial(n_patients=1, grid=(4, 4), n_genes=10, n_lipids=5, n_morphology=8)
    mdata.obsm["coords"] = mdata.obsm.pop("spatial") * 10
    path = tmp_path / "spatial.h5mu"
    mdata.write(path)
    back = read_paired(h5mu=path, modalities=["rna", "msi"], spatial_key="coords", label_key="label")
    np.testing.assert_array_equal(back.obsm["spatial"], mdata.obsm["coords"])


# --------------------------------------------------------------------------
# read_paired: bad input
# --------------------------------------------------------------------------


def test_missing_file(tmp_path, cite_files):
    missing = tmp_path / "nope.h5mu"
    _raises(lambda: read_paired(h5mu=missing), missing, "file", "does not exist")
    paths = dict(cite_files["h5ad"], adt=tmp_path / "adt_missing.h5ad")
    _raises(lambda: read_paired(h5ad=paths), paths["adt"], "file")


def test_not_hdf5_file(tmp_path):
    bogus = tmp_path / "rna.h5ad"
    bogus.write_text("<html>404 not found</html>")
    message = _raises(lambda: read_paired(h5ad={"rna": bogus}), bogus, "file", "not an HDF5")
    assert "Traceback" not in message


def test_truncated_file(tmp_path, cite_files):
    full = cite_files["h5ad"]["rna"].read_bytes()
    truncated = tmp_path / "truncated.h5ad"
    truncated.write_bytes(full[: len(full) // 3])
    _raises(lambda: read_paired(h5ad={"rna": truncated}), truncated, "file")


def test_named_modality_absent(cite_files):
    path = cite_files["h5mu"]
    message = _raises(lambda: read_paired(h5mu=path, modalities=["rna", "atac"]), path, "'atac'")
    assert "present: rna, adt" in message
    _raises(lambda: read_paired(h5ad=cite_files["h5ad"], modalities=["atac"]), "'atac'", "rna, adt")


def test_batch_column_missing(cite_files):
    path = cite_files["h5mu"]
    _raises(lambda: read_paired(h5mu=path, batch_key="donor_id"), path, "'donor_id'", "missing")


def test_label_column_missing(cite_files):
    path = cite_files["h5mu"]
    _raises(lambda: read_paired(h5mu=path, label_key="celltype"), path, "'celltype'", "missing")


def test_spatial_key_missing(cite_files):
    path = cite_files["h5mu"]
    _raises(lambda: read_paired(h5mu=path, spatial_key="spatial"), path, "obsm 'spatial'")


def test_cells_differ_between_modalities(tmp_path, cite):
    rna = cite.mod["rna"].copy()
    adt = cite.mod["adt"][5:].copy()
    paths = {"rna": _write_h5ad(rna, tmp_path / "rna.h5ad"), "adt": _write_h5ad(adt, tmp_path / "adt.h5ad")}
    message = _raises(lambda: read_paired(h5ad=paths), paths["adt"], "obs_names", "cell_00000")
    assert "5 only in 'rna'" in message


def test_cells_in_different_order(tmp_path, cite):
    rna = cite.mod["rna"].copy()
    adt = cite.mod["adt"][::-1].copy()
    paths = {"rna": _write_h5ad(rna, tmp_path / "rna.h5ad"), "adt": _write_h5ad(adt, tmp_path / "adt.h5ad")}
    message = _raises(lambda: read_paired(h5ad=paths), paths["adt"], "obs_names", "different order")
    assert "reindex" in message


def test_duplicate_cell_names(tmp_path, cite):
    rna = cite.mod["rna"].copy()
    names = rna.obs_names.to_list()
    names[3] = names[2]
    rna.obs_names = names
    path = tmp_path / "rna.h5ad"
    rna.write_h5ad(path)
    _raises(lambda: read_paired(h5ad={"rna": path}), path, "duplicate", names[2])


def test_exactly_one_source(cite_files):
    _raises(lambda: read_paired(), "h5mu", "h5ad")
    _raises(lambda: read_paired(h5mu=cite_files["h5mu"], h5ad=cite_files["h5ad"]), "exactly one")


# --------------------------------------------------------------------------
# validate_training_input
# --------------------------------------------------------------------------


def test_validate_accepts_good_data(cite):
    validate_training_input(cite, ["rna", "adt"])
    validate_training_input(simulate_spatial(n_patients=1, grid=(4, 4), n_genes=10, n_lipids=5,
                                             n_morphology=8), ["rna", "msi", "morphology"])


def test_validate_absent_modality(cite):
    message = _raises(lambda: validate_training_input(cite, ["rna", "atac"], source="d.h5mu"),
                      "d.h5mu", "'atac'")
    assert "rna, adt" in message


def test_validate_zero_features_and_zero_cells(cite):
    no_features = md.MuData({"rna": cite.mod["rna"][:, :0].copy()})
    _raises(lambda: validate_training_input(no_features, ["rna"], source="f.h5mu"), "f.h5mu", "zero features")
    no_cells = md.MuData({"rna": cite.mod["rna"][:0].copy()})
    _raises(lambda: validate_training_input(no_cells, ["rna"], source="c.h5mu"), "c.h5mu", "zero cells")


def test_validate_cells_differ(cite):
    mdata = md.MuData({"rna": cite.mod["rna"].copy(), "adt": cite.mod["adt"][10:].copy()})
    mdata.obs["batch"] = "b"
    _raises(lambda: validate_training_input(mdata, ["rna", "adt"], source="x.h5mu"),
            "x.h5mu", "'adt'", "10 only in 'rna'")


def test_validate_duplicate_cells(cite):
    rna = cite.mod["rna"].copy()
    names = rna.obs_names.to_list()
    names[1] = names[0]
    rna.obs_names = names
    mdata = md.MuData({"rna": rna})
    mdata.obs["batch"] = "b"
    _raises(lambda: validate_training_input(mdata, ["rna"], source="u.h5mu"), "u.h5mu", "duplicate")


def test_validate_nan_in_sparse_counts_values(cite):
    X = cite.mod["rna"].X.copy()
    X.data[[0, 5, 7]] = [np.nan, np.inf, -np.inf]
    cite.mod["rna"].X = X
    _raises(lambda: validate_training_input(cite, ["rna", "adt"], source="s.h5mu"),
            "s.h5mu", "modality 'rna' X", "3 NaN or infinite")


def test_validate_nan_in_dense_counted_across_chunks(monkeypatch):
    mdata = simulate_spatial(n_patients=1, grid=(4, 4), n_genes=10, n_lipids=5, n_morphology=8)
    X = mdata.mod["morphology"].X
    X[[0, 9, 31], [1, 2, 3]] = np.nan
    monkeypatch.setattr(io, "_CHUNK_ELEMENTS", 16)  # several chunks of two rows
    _raises(lambda: validate_training_input(mdata, ["morphology"], source="m.h5mu"),
            "m.h5mu", "modality 'morphology' X", "3 NaN")


def test_validate_never_densifies_sparse(cite):
    class NoDensify(sp.csr_matrix):
        def toarray(self, *args, **kwargs):
            raise AssertionError("densified")

        todense = toarray

    X = NoDensify(cite.mod["rna"].X)
    X.data[0] = np.nan
    assert io._count_nonfinite(X) == 1


def test_validate_backed_dense_and_sparse(tmp_path, cite):
    dense = ad.AnnData(np.ones((6, 3), dtype=np.float32))
    dense.X[2, 1] = np.nan
    dense.write_h5ad(tmp_path / "dense.h5ad")
    X = sp.csr_matrix(np.eye(4, dtype=np.float32))
    X.data[:] = np.inf
    sparse = ad.AnnData(X)
    sparse.write_h5ad(tmp_path / "sparse.h5ad")
    assert io._count_nonfinite(ad.read_h5ad(tmp_path / "dense.h5ad", backed="r").X) == 1
    assert io._count_nonfinite(ad.read_h5ad(tmp_path / "sparse.h5ad", backed="r").X) == 4


def test_validate_missing_batch_column(cite):
    del cite.obs["batch"]
    _raises(lambda: validate_training_input(cite, ["rna"], source="b.h5mu"), "b.h5mu", "'batch'", "missing")


def test_validate_sample_with_one_cell(cite):
    batch = cite.obs["batch"].astype(str).to_numpy().copy()
    batch[7] = "lonely_sample"
    cite.obs["batch"] = pd.Categorical(batch)
    message = _raises(lambda: validate_training_input(cite, ["rna", "adt"], source="o.h5mu"),
                      "o.h5mu", "'batch'", "'lonely_sample'")
    assert "drop" in message and "merge" in message


# --------------------------------------------------------------------------
# atomic writers
# --------------------------------------------------------------------------


def test_atomic_writers_write_readable_files(tmp_path, cite):
    write_h5mu_atomic(cite, tmp_path / "out" / "data.h5mu")
    write_h5ad_atomic(cite.mod["adt"], tmp_path / "out" / "adt.h5ad")
    assert sorted(os.listdir(tmp_path / "out")) == ["adt.h5ad", "data.h5mu"]
    back = md.read_h5mu(tmp_path / "out" / "data.h5mu")
    np.testing.assert_array_equal(back.mod["rna"].X.toarray(), cite.mod["rna"].X.toarray())
    assert ad.read_h5ad(tmp_path / "out" / "adt.h5ad").shape == cite.mod["adt"].shape
    # a new file's usual mode, not the private one of the temporary file: results are shared on clusters
    umask = os.umask(0)
    os.umask(umask)
    for name in ("data.h5mu", "adt.h5ad"):
        assert os.stat(tmp_path / "out" / name).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("kind", ["h5mu", "h5ad"])
def test_atomic_writer_failure_leaves_nothing(tmp_path, cite, kind):
    obj = cite if kind == "h5mu" else cite.mod["adt"]
    writer = write_h5mu_atomic if kind == "h5mu" else write_h5ad_atomic
    new_path = tmp_path / f"new.{kind}"
    old_path = tmp_path / f"old.{kind}"
    old_path.write_bytes(b"previous version")
    obj.uns["unwritable"] = object()
    for path in (new_path, old_path):
        with pytest.raises(Exception):
            writer(obj, path)
    assert not new_path.exists()
    assert old_path.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == [old_path.name]


# --------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------


def test_read_real_bmmc_cite_starter():
    folder = SHARED_DATA / "bmmc_cite_starter"
    if not folder.is_dir():
        pytest.skip(f"real BMMC starter data: {folder} absent (../shared/data absent)")
    mdata = read_paired(
        h5ad={"rna": folder / "rna.h5ad", "adt": folder / "adt.h5ad"},
        batch_key="batch",
        label_key="cell_type",
    )
    assert list(mdata.mod) == ["rna", "adt"]
    assert mdata.n_obs == 600
    assert mdata.mod["rna"].n_vars == 1000 and mdata.mod["adt"].n_vars == 134
    assert set(mdata.obs["batch"].cat.categories) == {"s1d1", "s1d2"}
    assert mdata.obs["label"].dtype == "category" and mdata.obs["label"].nunique() > 10
    assert (mdata.mod["rna"].obs_names == mdata.mod["adt"].obs_names).all()
    validate_training_input(mdata, ["rna", "adt"], source=str(folder))
