"""Held-out predictions of a fold model (translation 4CV)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mima.api import MIMA
from mima.data.folds import fold_masks
from mima.evaluate.heldout import heldout_predictions


def test_heldout_predictions_cover_the_fold_and_the_evaluation_features(paired):
    for m in paired.mod:
        paired.mod[m].var["hvf"] = np.arange(paired.mod[m].n_vars) % 2 == 0
    folds = pd.DataFrame({"cell": paired.obs_names, "fold": np.arange(paired.n_obs) % 4})
    train_mask, heldout_mask = fold_masks(folds, paired.obs_names, fold=1)
    assert heldout_mask.sum() == 30 and not (train_mask & heldout_mask).any()
    model = MIMA.setup(paired[train_mask].copy(), ["m0", "m1"], model_params={"latent_dim": 4}, modality_params={"m0": {"hidden": [8]}})
    model.train(paired[train_mask].copy(), {"max_epochs": 1, "min_steps": 0, "progress": False})
    heldout = paired[heldout_mask].copy()
    out = heldout_predictions(model, heldout)
    assert list(out.obs_names) == list(heldout.obs_names)
    assert out.mod["m0"].shape == (30, 30) and out.mod["m1"].shape == (30, 6)
    np.testing.assert_array_equal(out.mod["m1"].X, heldout.mod["m1"].X[:, ::2])
    assert set(out.mod["m1"].layers) == {"reconstructed", "translated_from_m0"}
    np.testing.assert_allclose(out.mod["m1"].layers["translated_from_m0"], model.translate(heldout, "m0", "m1")[:, ::2])
