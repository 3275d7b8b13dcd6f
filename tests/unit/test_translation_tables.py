"""Assembly of the translation tables from per-fold held-out predictions."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from mima.evaluate.translation_tables import translation_tables


def test_tables_from_perfect_and_noisy_predictions():
    rng = np.random.default_rng(0)
    n = 40
    cells = [f"c{i}" for i in range(n)]
    mods = {}
    for m, d in (("a", 6), ("b", 4)):
        adata = ad.AnnData(rng.random((n, d)).astype(np.float32), obs=pd.DataFrame(index=cells),
                           var=pd.DataFrame(index=[f"{m}{j}" for j in range(d)]))
        adata.var["hvf"] = np.arange(d) < d - 1  # the last feature is not evaluated
        mods[m] = adata
    data = md.MuData(mods)
    data.obs["label"] = ["x", "y"] * (n // 2)
    folds = pd.DataFrame({"cell": cells, "fold": np.arange(n) % 2})
    heldout = {}
    for fold in (0, 1):
        rows = np.flatnonzero(folds["fold"].to_numpy() == fold)
        out = {}
        for target, source in (("a", "b"), ("b", "a")):
            true = data.mod[target].X[rows][:, data.mod[target].var["hvf"].to_numpy()]
            adata = ad.AnnData(true.copy(), obs=pd.DataFrame(index=np.array(cells)[rows]),
                               var=pd.DataFrame(index=data.mod[target].var_names[data.mod[target].var["hvf"].to_numpy()]))
            adata.layers[f"translated_from_{source}"] = true.copy()  # perfect translation
            adata.layers["reconstructed"] = true + 1.0  # off by one everywhere: MSE 1
            out[target] = adata
        heldout[fold] = md.MuData(out)
    representation = {m: data.mod[m].X for m in ("a", "b")}
    mse, r2, per_cell = translation_tables("toy", data, folds, heldout, representation, knn=3)

    overall = mse[(mse.fold == "all") & (mse.source == "b") & (mse.target == "a")].set_index("metric")["value"]
    assert overall["translation_mean"] == 0.0 and abs(overall["reconstruction_mean"] - 1.0) < 1e-6
    assert overall["knn_baseline_mean"] > 0 and overall["same_centroid_mean"] > 0
    assert set(mse.fold) == {"0", "1", "all"} and set(mse.method) == {"mima"}
    assert len(per_cell) == 2 * n and set(per_cell.columns) >= {"cell", "fold", "source", "target", "translation"}
    mima_r = r2[(r2.method == "mima") & (r2.metric == "pearson_r") & (r2.target == "a")]
    assert len(mima_r) == 5 and np.allclose(mima_r["value"], 1.0)  # 5 evaluation features, perfect
    assert set(r2.method) == {"mima", "knn_baseline"}
    assert list(r2.columns) == ["dataset", "method", "embedding", "source", "target", "feature", "metric", "value"]
