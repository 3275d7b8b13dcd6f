"""Helpers shared by the tests: small synthetic paired data, the real starters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """Folder of a real starter dataset, or skip the test with the reason."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real test data {folder} is absent (it lives in ../shared/data beside the repository)")
    return folder


def make_mudata(n_cells=120, dims=(60, 12), n_batches=3, sparse_first=True, seed=0):
    """Random paired MuData: modality ``m0`` (sparse counts-like), ``m1``...,
    with a categorical ``obs['batch']``."""
    import anndata as ad
    import mudata as md

    rng = np.random.default_rng(seed)
    names = [f"cell{i:04d}" for i in range(n_cells)]
    mods = {}
    for i, d in enumerate(dims):
        values = rng.poisson(1.0, size=(n_cells, d)).astype(np.float32)
        x = sp.csr_matrix(values) if (i == 0 and sparse_first) else values
        mods[f"m{i}"] = ad.AnnData(x, obs=pd.DataFrame(index=names), var=pd.DataFrame(index=[f"m{i}_f{j}" for j in range(d)]))
    mdata = md.MuData(mods)
    mdata.obs["batch"] = pd.Categorical([f"s{k}" for k in rng.integers(0, n_batches, n_cells)])
    return mdata

