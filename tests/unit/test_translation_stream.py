"""The translation tables computed a block of cells at a time equal the
in-memory computation."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mima.data.atomic_write import write_h5mu_atomic
from mima.evaluate.heldout import heldout_scores
from mima.evaluate.translation import feature_correlations
from mima.evaluate.translation_stream import FeatureAgreement
from mima.evaluate.translation_tables import translation_tables, translation_tables_from_files

#: float64 sums over blocks associate differently from one sum over all
#: cells: ~1e-16 relative per addition, far below this
RTOL = 1e-10


def toy(n=103, seed=0):
    rng = np.random.default_rng(seed)
    cells = [f"c{i}" for i in range(n)]
    mods = {}
    for m, d in (("a", 9), ("b", 5)):
        values = (rng.random((n, d)) * (rng.random((n, d)) < 0.6)).astype(np.float32)
        values[:, 1] = 3.0  # a constant feature: NaN correlations
        adata = ad.AnnData(sp.csr_matrix(values) if m == "a" else values, obs=pd.DataFrame(index=cells),
                           var=pd.DataFrame(index=[f"{m}{j}" for j in range(d)]))
        adata.var["hvf"] = np.arange(d) != d - 1
        adata.layers["counts"] = adata.X.copy()
        mods[m] = adata
    data = md.MuData(mods)
    data.obs["label"] = rng.choice(["x", "y", "z", "unlabelled", "solo"][:4], n)
    data.obs.iloc[5, data.obs.columns.get_loc("label")] = "solo"  # a label of one cell: no same centroid
    folds = pd.DataFrame({"cell": cells, "fold": rng.permutation(np.arange(n) % 3)})
    heldout = {}
    for fold in range(3):
        rows = np.flatnonzero(folds["fold"].to_numpy() == fold)
        out = {}
        for target, source in (("a", "b"), ("b", "a")):
            hvf = data.mod[target].var["hvf"].to_numpy()
            x = data.mod[target].X
            true = np.asarray(x.toarray() if sp.issparse(x) else x)[rows][:, hvf]
            adata = ad.AnnData(true.copy(), obs=pd.DataFrame(index=np.array(cells)[rows]),
                               var=pd.DataFrame(index=data.mod[target].var_names[hvf]))
            adata.layers[f"translated_from_{source}"] = (true + rng.normal(0, 0.3, true.shape)).astype(np.float32)
            adata.layers["reconstructed"] = (true * 0.5 + 1).astype(np.float32)
            out[target] = adata
        heldout[fold] = md.MuData(out)
    representation = {m: rng.normal(size=(n, 4)) for m in ("a", "b")}
    return data, folds, heldout, representation


def write_files(tmp_path, data, heldout):
    """The prepared dataset and each fold's held-out scores on disk: (data path, {fold: scores path})."""
    data_path = tmp_path / "prepared.h5mu"
    write_h5mu_atomic(data, data_path)
    paths = {}
    for fold, predictions in heldout.items():
        paths[fold] = str(tmp_path / f"heldout_scores_{fold}.h5mu")
        write_h5mu_atomic(heldout_scores(predictions), paths[fold])
    return data_path, paths


@pytest.mark.parametrize("block", [7, 1000])
def test_streaming_tables_equal_the_in_memory_tables(tmp_path, block):
    data, folds, heldout, representation = toy()
    expected = translation_tables("toy", data, folds, heldout, representation, knn=4)
    data_path, paths = write_files(tmp_path, data, heldout)
    got = translation_tables_from_files("toy", data_path, folds, paths, representation, knn=4, block=block)
    mse, r2, per_cell = expected
    pd.testing.assert_frame_equal(got[2], per_cell)  # per-cell MSEs: the same operations on the same rows
    for table, new in ((mse, got[0]), (r2, got[1])):
        assert list(new.columns) == list(table.columns)
        pd.testing.assert_frame_equal(new.drop(columns="value"), table.drop(columns="value"))
        np.testing.assert_allclose(new["value"], table["value"], rtol=RTOL, atol=1e-12, equal_nan=True)
    assert r2["value"].isna().any()  # the constant feature


def test_feature_agreement_over_blocks_equals_one_pass():
    rng = np.random.default_rng(1)
    true = rng.normal(1e3, 1.0, (257, 6))  # a large mean: raw moments would cancel
    pred = true + rng.normal(0, 0.5, true.shape)
    pred[:, 2] = 7.0
    agreement = FeatureAgreement(6)
    for start in range(0, 257, 10):
        agreement.update(true[start:start + 10], pred[start:start + 10])
    got, expected = agreement.result(), feature_correlations(true, pred)
    np.testing.assert_allclose(got.drop(columns="feature").to_numpy(), expected.drop(columns="feature").to_numpy(),
                               rtol=RTOL, equal_nan=True)


def test_scores_of_other_cells_are_refused(tmp_path):
    data, folds, heldout, representation = toy()
    data_path, paths = write_files(tmp_path, data, heldout)
    paths[0], paths[1] = paths[1], paths[0]
    with pytest.raises(ValueError, match="not fold 0's held-out cells.*rerun predict_mima_fold"):
        translation_tables_from_files("toy", data_path, folds, paths, representation, knn=4)


def test_merged_agreement_equals_one_pass():
    rng = np.random.default_rng(2)
    true = rng.normal(50.0, 2.0, (90, 4))
    pred = true + rng.normal(0, 0.5, true.shape)
    parts = []
    for rows in (slice(0, 31), slice(31, 32), slice(32, 90)):
        part = FeatureAgreement(4)
        part.update(true[rows], pred[rows])
        parts.append(FeatureAgreement.from_columns(pd.DataFrame(part.columns("_x")), part.n, "_x"))
    merged = FeatureAgreement(4)
    for part in parts:
        merged.merge(part)
    expected = feature_correlations(true, pred)
    np.testing.assert_allclose(merged.result().drop(columns="feature").to_numpy(),
                               expected.drop(columns="feature").to_numpy(), rtol=RTOL)
