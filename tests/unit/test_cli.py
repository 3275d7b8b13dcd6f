"""The `mima` command end to end, and its answers to bad input."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from helpers import shared_dataset
from mima.cli import main

QUICK = ["--max-epochs", "2", "--min-steps", "0", "--quiet"]


def test_cli_end_to_end_on_the_real_cite_starter(tmp_path, capsys):
    folder = shared_dataset("bmmc_cite_starter")
    data = ["--h5ad", f"rna={folder / 'rna.h5ad'}", "--h5ad", f"adt={folder / 'adt.h5ad'}", "--batch-key", "batch"]
    model = tmp_path / "model"
    assert main(["train", *data, "--label-key", "cell_type", "--out", str(model), *QUICK]) == 0
    assert (model / "model.pt").exists() and (model / "model.json").exists() and (model / "history.tsv").exists()

    assert main(["embed", *data, "--label-key", "cell_type", "--model", str(model), "--out", str(tmp_path / "emb.h5ad")]) == 0
    embedding = ad.read_h5ad(tmp_path / "emb.h5ad")
    assert embedding.n_obs == 600 and embedding.obsm["poe"].shape == (600, 100)
    assert {"private_rna", "batch_rna", "private_adt", "batch_adt"} <= set(embedding.obsm)
    assert embedding.obs["label"].nunique() > 20 and embedding.uns["method"]["name"] == "mima"

    rna_only = ["--h5ad", f"rna={folder / 'rna.h5ad'}", "--batch-key", "batch"]
    assert main(["translate", *rna_only, "--model", str(model), "--source", "rna", "--target", "adt",
                 "--out", str(tmp_path / "adt.h5ad")]) == 0
    translated = ad.read_h5ad(tmp_path / "adt.h5ad")
    assert translated.shape == (600, 134) and np.isfinite(translated.X).all()

    assert main(["reconstruct", *data, "--model", str(model), "--out", str(tmp_path / "out.h5mu")]) == 0
    outputs = md.read_h5mu(tmp_path / "out.h5mu")
    assert set(outputs.mod["adt"].layers) == {"denoised", "batch_corrected", "translated_from_rna"}


def test_cli_simulate_then_unimodal_train(tmp_path):
    sim = tmp_path / "sim.h5mu"
    assert main(["simulate", "--kind", "cite", "--n-cells", "150", "--out", str(sim)]) == 0
    data = md.read_h5mu(sim)
    assert "counts" in data.mod["rna"].layers and data.mod["rna"].X.max() < 20  # X is log-normalised
    model = tmp_path / "uni"
    assert main(["train", "--h5mu", str(sim), "--modalities", "adt", "--unimodal", "--out", str(model), *QUICK]) == 0
    assert main(["embed", "--h5mu", str(sim), "--modalities", "adt", "--model", str(model), "--out", str(tmp_path / "e.h5ad")]) == 0
    assert set(ad.read_h5ad(tmp_path / "e.h5ad").obsm) == {"unimodal_private_adt", "unimodal_batch_adt"}


def _write_pair(folder, n=40, *, rna=None, adt=None, obs=None, adt_cells=None):
    rng = np.random.default_rng(0)
    cells = [f"c{i}" for i in range(n)]
    obs = obs if obs is not None else pd.DataFrame({"batch": ["a"] * (n // 2) + ["b"] * (n - n // 2)}, index=cells)
    rna = rna if rna is not None else sp.csr_matrix(rng.poisson(1, (n, 30)).astype(np.float32))
    adt = adt if adt is not None else rng.random((n, 5)).astype(np.float32)
    ad.AnnData(rna, obs=obs).write_h5ad(folder / "rna.h5ad")
    adt_obs = obs.copy()
    if adt_cells is not None:
        adt_obs.index = adt_cells
    ad.AnnData(adt, obs=adt_obs).write_h5ad(folder / "adt.h5ad")
    return ["--h5ad", f"rna={folder / 'rna.h5ad'}", "--h5ad", f"adt={folder / 'adt.h5ad'}"]


def _nan_adt(n):
    values = np.ones((n, 5), dtype=np.float32)
    values[3, 2] = np.nan
    return values


BAD_INPUTS = {
    "cells differ": (dict(adt_cells=[f"x{i}" for i in range(40)]), [], ["adt.h5ad", "cell"]),
    "nan values": (dict(adt=_nan_adt(40)), [], ["adt", "NaN"]),
    "batch column missing": (dict(obs=pd.DataFrame(index=[f"c{i}" for i in range(40)])), [], ["batch"]),
    "zero features": (dict(adt=np.zeros((40, 0), dtype=np.float32)), [], ["adt", "feature"]),
    "modality absent": ({}, ["--modalities", "rna", "protein"], ["protein"]),
    "sample with one cell": (dict(obs=pd.DataFrame({"batch": ["a"] * 39 + ["lonely"]}, index=[f"c{i}" for i in range(40)])), [], ["lonely"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_naming_file_and_field_and_writes_nothing(case, tmp_path, capsys):
    kwargs, extra, words = BAD_INPUTS[case]
    data = _write_pair(tmp_path, **kwargs)
    out = tmp_path / "model"
    assert main(["train", *data, *extra, "--out", str(out), *QUICK]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert "fix:" in error and ".h5ad" in error
    for word in words:
        assert word.lower() in error.lower(), (word, error)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adt.h5ad", "rna.h5ad"]
