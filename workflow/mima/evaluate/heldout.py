"""Held-out predictions of a MIMA model trained on the other folds
(translation 4CV, DESIGN §4).

For every target modality the output holds, on the held-out cells and the
target's evaluation features (``var['hvf']``) only: ``X`` = the true values,
layer ``reconstructed`` = the denoised reconstruction from every modality,
and ``translated_from_<n>`` = the translation from each other modality,
which never reads the target (its batch latent is the sample's mean over the
training cells). A fold's training and held-out cells come from
:func:`mima.data.folds.fold_masks`.
"""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from ..utils import dense


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
        adata = ad.AnnData(dense(heldout.mod[target].X[:, hvf], np.float32),
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
