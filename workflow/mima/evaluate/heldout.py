"""Held-out predictions of a MIMA model trained on the other folds
(translation 4CV, DESIGN §4).

For every target modality the output holds, on the held-out cells and the
target's evaluation features (``var['hvf']``) only: ``X`` = the true values,
layer ``reconstructed`` = the denoised reconstruction from every modality,
and ``translated_from_<n>`` = the translation from each other modality,
which never reads the target (its batch latent is the sample's mean over the
training cells).
"""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp


def fold_masks(folds: pd.DataFrame, cells: pd.Index, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, held-out) masks over ``cells`` for one fold of
    ``folds.tsv`` (columns ``cell``, ``fold``)."""
    assigned = folds.set_index("cell")["fold"].reindex(cells.astype(str))
    if assigned.isna().any():
        missing = assigned.index[assigned.isna()][:3].tolist()
        raise ValueError(f"cells {missing} have no fold: rebuild folds.tsv")
    heldout = assigned.to_numpy() == fold
    return ~heldout, heldout


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float32)


def heldout_predictions(model, heldout: md.MuData) -> md.MuData:
    """Predictions of ``model`` on ``heldout`` cells (see module docstring).

    Parameters
    ----------
    model
        A trained :class:`mima.api.MIMA` (not trained on these cells).
    heldout
        The prepared dataset restricted to the held-out cells.
    """
    reconstructed = model.reconstruct(heldout, "denoised")
    mods = {}
    for target in model.modalities:
        hvf = heldout.mod[target].var["hvf"].to_numpy(dtype=bool)
        adata = ad.AnnData(_dense(heldout.mod[target].X[:, hvf]),
                           obs=pd.DataFrame(index=heldout.obs_names.copy()),
                           var=pd.DataFrame(index=heldout.mod[target].var_names[hvf].copy()))
        adata.layers["reconstructed"] = reconstructed[target][:, hvf]
        for source in model.modalities:
            if source != target:
                adata.layers[f"translated_from_{source}"] = model.translate(heldout, source, target)[:, hvf]
        mods[target] = adata
    with md.set_options(pull_on_update=False):
        out = md.MuData(mods)
    out.obs = heldout.obs[[c for c in ("batch", "label") if c in heldout.obs]].copy()
    return out
