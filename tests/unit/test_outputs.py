"""MIMA's outputs written a block of cells at a time: the same numbers as
in memory, a file mudata reads, rows readable lazily, the failure record."""

from __future__ import annotations

import h5py
import mudata
import numpy as np
import pandas as pd
import pytest

from helpers import make_mudata
from mima.api import MIMA
from mima.data.h5_layers import ARRAY_ENCODING, LayerRows, chunk_shape
from mima.evaluate.heldout import (
    heldout_predictions, heldout_scores, translation_map_values, translations_of_features, write_heldout_scores,
)
from mima.outputs import failed_outputs_from_file
from mima.status import is_ok, reason
from mima.utils import dense


@pytest.fixture
def setup(tmp_path):
    data = make_mudata(n_cells=250)
    data.mod["m0"].layers["counts"] = data.mod["m0"].X.copy()
    for m in data.mod:
        data.mod[m].var["hvf"] = np.arange(data.mod[m].n_vars) % 3 != 0
    model = MIMA.setup(data, ["m0", "m1"], model_params={"latent_dim": 8}, modality_params={"m0": {"hidden": [16]}})
    model.train(data, {"max_epochs": 1, "min_steps": 0, "progress": False})
    path = tmp_path / "prepared.h5mu"
    data.write_h5mu(path)
    return data, model, path


@pytest.mark.parametrize("block, batch", [(64, 64), (70, 7), (None, None)])
def test_outputs_by_blocks_equal_the_outputs_in_memory(setup, tmp_path, block, batch):
    """Blocks of cells that do not divide the 250 cells give the numbers of
    the in-memory outputs to the bit when the forward passes hold the same
    cells (a matmul kernel may round a row differently with another number
    of rows: then to float32 rounding)."""
    data, model, path = setup
    in_memory = model.outputs(data, batch_size=batch or 1024)
    default = model.outputs(data)
    out = model.write_outputs(path, tmp_path / "outputs.h5mu", block=block, batch_size=batch)
    disk = mudata.read_h5mu(out)
    assert is_ok(disk) and list(disk.obs_names) == list(data.obs_names)
    np.testing.assert_array_equal(disk.obs["batch"].astype(str), data.obs["batch"].astype(str))
    for m in ("m0", "m1"):
        other = "m1" if m == "m0" else "m0"
        assert set(disk.mod[m].layers) == set(in_memory.mod[m].layers) == {"denoised", "batch_corrected",
                                                                           f"translated_from_{other}"}
        assert list(disk.mod[m].var_names) == list(data.mod[m].var_names)
        for name, value in in_memory.mod[m].layers.items():
            np.testing.assert_array_equal(disk.mod[m].layers[name], value)  # float32, to the bit
            np.testing.assert_allclose(disk.mod[m].layers[name], default.mod[m].layers[name], rtol=1e-5, atol=1e-6)
    # the public decodings give the same numbers
    np.testing.assert_array_equal(default.mod["m1"].layers["denoised"], model.reconstruct(data, "denoised")["m1"])
    np.testing.assert_array_equal(default.mod["m1"].layers["translated_from_m0"], model.translate(data, "m0", "m1"))


def test_outputs_read_lazily_as_documented(setup, tmp_path):
    """README's recipe: h5py slices rows of one layer without loading the file."""
    data, model, path = setup
    out = model.write_outputs(path, tmp_path / "outputs.h5mu", block=64)
    expected = model.outputs(data).mod["m0"].layers["denoised"]
    with h5py.File(out, "r") as file:
        layer = file["mod/m0/layers/denoised"]
        assert dict(layer.attrs) == ARRAY_ENCODING and layer.chunks == chunk_shape(250, 60)
        np.testing.assert_array_equal(layer[100:150], expected[100:150])
        np.testing.assert_array_equal(layer[:, [3, 7]], expected[:, [3, 7]])
        assert list(file["mod/m0/var/_index"].asstr()[:]) == list(data.mod["m0"].var_names)
        assert list(file["obs/_index"].asstr()[:]) == list(data.obs_names)
    rows = LayerRows(out, "m0", "denoised")
    blocks = list(rows.blocks(33, columns=[5, 1]))
    assert [b[0] for b in blocks] == list(range(0, 250, 33))
    np.testing.assert_array_equal(np.concatenate([b[2] for b in blocks]), expected[:, [5, 1]])


def test_failed_model_writes_a_failed_file(setup, tmp_path):
    data, _, path = setup
    record = failed_outputs_from_file(path, "out of memory")
    target = tmp_path / "outputs.h5mu"
    record.write_h5mu(target)
    back = mudata.read_h5mu(target)
    assert not is_ok(back) and reason(back) == "out of memory"
    assert back.mod["m0"].shape == (250, 0) and list(back.obs_names) == list(data.obs_names)


def test_heldout_scores_by_blocks_equal_the_scores_of_the_predictions_in_memory(setup, tmp_path):
    data, model, path = setup
    mask = np.arange(data.n_obs) % 4 == 1
    expected = heldout_scores(heldout_predictions(model, data[mask].copy()))
    write_heldout_scores(model, path, mask, tmp_path / "scores.h5mu", block=9)
    got = mudata.read_h5mu(tmp_path / "scores.h5mu")  # forward passes of 9 cells: float32 rounding apart
    assert is_ok(got) and list(got.obs_names) == list(data.obs_names[mask])
    pd.testing.assert_frame_equal(got.obs.astype(str), expected.obs.astype(str))
    for m, other in (("m0", "m1"), ("m1", "m0")):
        hvf = data.mod[m].var["hvf"].to_numpy()
        assert list(got.mod[m].var_names) == list(data.mod[m].var_names[hvf])
        assert got.mod[m].X is None  # no predictions stored
        assert set(got.mod[m].obs) == {"reconstruction_mse", f"translation_mse_from_{other}"}
        assert {"cross_from_" + other, "ss_res_from_" + other} <= set(got.mod[m].var)
        for frame in ("obs", "var"):
            g, e = getattr(got.mod[m], frame), getattr(expected.mod[m], frame)
            assert list(g.columns) == list(e.columns)
            np.testing.assert_allclose(g.to_numpy(float), e.to_numpy(float), rtol=1e-4, atol=1e-6)
    write_heldout_scores(model, path, mask, tmp_path / "whole.h5mu")  # one block, one pass: to the bit
    whole = mudata.read_h5mu(tmp_path / "whole.h5mu")
    for m in ("m0", "m1"):
        pd.testing.assert_frame_equal(whole.mod[m].obs, expected.mod[m].obs)
        pd.testing.assert_frame_equal(whole.mod[m].var, expected.mod[m].var)


def test_heldout_scores_are_the_mse_and_agreement_of_the_predictions(setup):
    data, model, _ = setup
    predictions = heldout_predictions(model, data[:40].copy())
    scores = heldout_scores(predictions)
    true, translated = predictions.mod["m1"].X, predictions.mod["m1"].layers["translated_from_m0"]
    reconstructed = predictions.mod["m1"].layers["reconstructed"]
    np.testing.assert_allclose(scores.mod["m1"].obs["translation_mse_from_m0"],
                               ((true.astype(float) - translated) ** 2).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(scores.mod["m1"].obs["reconstruction_mse"],
                               ((true.astype(float) - reconstructed) ** 2).mean(axis=1), rtol=1e-12)
    var = scores.mod["m1"].var
    np.testing.assert_allclose(var["mean_pred_from_m0"], translated.astype(float).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var["ss_res_from_m0"], ((true.astype(float) - translated) ** 2).sum(axis=0),
                               rtol=1e-12)


def perturbed(model):
    """A second model: the same, with m1's decoder weights scaled (another fold's model)."""
    import copy

    import torch

    other = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in other.module.parameters():
            parameter.mul_(1.1)
    return other


def test_translations_of_features_use_each_cells_own_fold_model(setup):
    data, model, path = setup
    models = {0: model, 1: perturbed(model)}
    fold_of = np.arange(data.n_obs) % 2
    rows = np.arange(10, 60)
    features = [data.mod["m1"].var_names[4], data.mod["m1"].var_names[1]]
    got = translations_of_features(models, path, fold_of, rows, "m1", features)
    assert set(got) == {"m0"} and got["m0"].shape == (50, 2)
    columns = data.mod["m1"].var_names.get_indexer(features)
    for fold, fold_model in models.items():
        cells = rows[fold_of[rows] == fold]
        expected = fold_model.translate(data[cells].copy(), "m0", "m1")[:, columns]
        np.testing.assert_allclose(got["m0"][fold_of[rows] == fold], expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got["m0"][fold_of[rows] == 0], perturbed(model).translate(
        data[rows[fold_of[rows] == 0]].copy(), "m0", "m1")[:, columns])


def test_translation_map_values_hold_the_sample_truth_and_each_translation(setup):
    data, model, path = setup
    sample = str(data.obs["batch"].iat[0])
    feature = str(data.mod["m0"].var_names[2])
    fold_of = np.arange(data.n_obs) % 2
    table = translation_map_values({0: model, 1: perturbed(model)}, path, fold_of,
                                   [{"modality": "m0", "feature": feature, "sample": sample}])
    cells = data.obs_names[(data.obs["batch"].astype(str) == sample).to_numpy()]
    assert list(table["panel"].unique()) == ["input", "from m1"]
    truth = table[table["panel"] == "input"]
    assert list(truth["cell"]) == list(cells)
    np.testing.assert_allclose(truth["value"], dense(data.mod["m0"][cells, feature].X, np.float64).ravel())
    assert table["value"].notna().all()
