"""Unit tests of mima.data.geo: splitting a GEO GSE194122 processed file into modalities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mima.data.geo import split_geo_multimodal
from mima.errors import InputError


def _geo_like(with_types: bool = True):
    import anndata as ad

    types = ["GEX", "GEX", "ADT", "GEX", "ADT"]
    counts = sp.csr_matrix(np.arange(15, dtype=np.float32).reshape(3, 5))
    var = pd.DataFrame({"feature_types": pd.Categorical(types)} if with_types else {},
                       index=["g1", "g2", "CD3", "g3", "CD4"])
    obs = pd.DataFrame({"batch": ["s1d1", "s1d2", "s1d1"], "cell_type": ["B", "T", "NK"]},
                       index=["c1", "c2", "c3"])
    adata = ad.AnnData(X=counts * 0.5, obs=obs, var=var, layers={"counts": counts.copy()})
    adata.obsm["GEX_X_pca"] = np.ones((3, 2))
    adata.obsm["ADT_X_pca"] = np.zeros((3, 2))
    return adata


def test_split_geo_multimodal():
    adata = _geo_like()
    parts = split_geo_multimodal(adata, "GSE194122_cite.h5ad")
    assert list(parts) == ["rna", "adt"]
    rna, adt = parts["rna"], parts["adt"]
    assert rna.var_names.tolist() == ["g1", "g2", "g3"] and adt.var_names.tolist() == ["CD3", "CD4"]
    np.testing.assert_array_equal(adt.layers["counts"].toarray(), adata.layers["counts"][:, [2, 4]].toarray())
    np.testing.assert_array_equal(rna.X.toarray(), adata.X[:, [0, 1, 3]].toarray())
    assert rna.obs["batch"].tolist() == ["s1d1", "s1d2", "s1d1"] and adt.obs["cell_type"].tolist() == ["B", "T", "NK"]
    assert list(rna.obsm) == ["GEX_X_pca"] and list(adt.obsm) == ["ADT_X_pca"]


def test_split_geo_multimodal_requires_feature_types():
    with pytest.raises(InputError, match=r"^geo\.h5ad: var\['feature_types'\]: missing"):
        split_geo_multimodal(_geo_like(with_types=False), "geo.h5ad")
