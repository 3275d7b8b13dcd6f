"""The translation tables of one dataset (DESIGN §2, §4), from the held-out
4CV evaluation of the per-fold MIMA models (in memory: their predictions,
:func:`translation_tables`; in the pipeline: their held-out scores,
:func:`translation_tables_from_files`).

``tables/translation_mse.tsv`` — columns ``dataset, method, embedding,
source, target, fold, metric, value``: per fold and over all held-out cells
(``fold = all``), the mean and median MSE of MIMA's translation and
reconstruction, of the two leave-one-out annotation centroids and of the
kNN-regression baseline (``metric`` = ``<kind>_mean`` / ``<kind>_median``;
see :mod:`mima.evaluate.translation`). ``method`` is ``mima``,
``embedding`` empty.

``tables/translation_r2.tsv`` — columns ``dataset, method, embedding,
source, target, feature, metric, value``: per evaluation feature, Pearson's
r, its square ``r2`` (the study's r²) and the coefficient of determination
``r2_score``, over the held-out cells of all folds pooled, for MIMA's
translation (``method = mima``) and the kNN baseline (``method =
knn_baseline``).

``translation/per_cell_mse.tsv.gz`` — every held-out cell's MSEs, for the
distribution figures.
"""

from __future__ import annotations

import mudata as md
import numpy as np
import pandas as pd

from ..data.folds import cell_folds
from ..utils import dense
from .translation import feature_correlations, knn_regression_baseline, summarise, translation_errors


def translation_tables(dataset: str, data: md.MuData, folds: pd.DataFrame, heldout: dict[int, md.MuData],
                       source_representation: dict[str, np.ndarray], knn: int = 15,
                       unlabelled: tuple[str, ...] = ("unlabelled", "other")):
    """Build the three translation tables.

    Parameters
    ----------
    dataset
        Dataset name.
    data
        The prepared dataset (true values, labels).
    folds
        ``folds.tsv`` (``cell``, ``fold``).
    heldout
        ``{fold: held-out predictions}`` (:func:`mima.evaluate.heldout.heldout_predictions`).
    source_representation
        ``{modality: cells × k}`` representation of each source modality the
        kNN baseline searches in (e.g. its PCA), rows in ``data.obs_names``
        order.
    knn
        Neighbours of the kNN baseline.
    unlabelled
        Labels that do not count as an annotation for the centroids.

    Returns
    -------
    mse, r2, per_cell : pandas.DataFrame
    """
    fold_of = cell_folds(folds, data.obs_names)
    labels = data.obs["label"].astype(str).to_numpy() if "label" in data.obs else np.full(data.n_obs, None)
    modalities = list(data.mod)
    mse_frames, r2_frames, per_cell_frames = [], [], []
    for target in modalities:
        hvf = data.mod[target].var["hvf"].to_numpy(dtype=bool)
        values_all = dense(data.mod[target].X[:, hvf], np.float32)
        for source in (m for m in modalities if m != target):
            pooled = {"true": [], "mima": [], "knn_baseline": []}
            for fold, predictions in sorted(heldout.items()):
                heldout_index = np.flatnonzero(fold_of == fold)
                train_index = np.flatnonzero(fold_of != fold)
                out = predictions.mod[target]
                knn_prediction = knn_regression_baseline(source_representation[source][train_index],
                                                         values_all[train_index],
                                                         source_representation[source][heldout_index], k=knn)
                per_cell = translation_errors(out.X, out.layers[f"translated_from_{source}"], out.layers["reconstructed"],
                                              labels, values_all, heldout_index, knn=knn_prediction,
                                              cells=data.obs_names[heldout_index], missing=unlabelled)
                per_cell.insert(0, "fold", fold)
                per_cell_frames.append(per_cell.assign(source=source, target=target))
                mse_frames.append(summarise(per_cell.drop(columns="fold")).assign(source=source, target=target, fold=str(fold)))
                pooled["true"].append(np.asarray(out.X))
                pooled["mima"].append(out.layers[f"translated_from_{source}"])
                pooled["knn_baseline"].append(knn_prediction)
            every_cell = pd.concat([f for f in per_cell_frames if f["source"].iat[0] == source and f["target"].iat[0] == target])
            mse_frames.append(summarise(every_cell.drop(columns=["fold", "source", "target"])).assign(source=source, target=target, fold="all"))
            true = np.concatenate(pooled["true"])
            for method in ("mima", "knn_baseline"):
                correlations = feature_correlations(true, np.concatenate(pooled[method]), features=list(out.var_names))
                long = correlations.melt(id_vars="feature", var_name="metric", value_name="value")
                r2_frames.append(long.assign(method=method, source=source, target=target))
    mse = pd.concat(mse_frames, ignore_index=True).assign(dataset=dataset, method="mima", embedding="")
    mse = mse[["dataset", "method", "embedding", "source", "target", "fold", "metric", "value"]]
    r2 = pd.concat(r2_frames, ignore_index=True).assign(dataset=dataset, embedding="")
    r2 = r2[["dataset", "method", "embedding", "source", "target", "feature", "metric", "value"]]
    per_cell = pd.concat(per_cell_frames, ignore_index=True)
    return mse, r2, per_cell


def _block_rows(n_features: int, knn: int, memory_mb: float) -> int:
    """Held-out cells per block: each holds ~(k + 8) float64 rows of the
    evaluation features (its neighbours' values, true, predictions,
    centroids and their float64 copies)."""
    return max(1, int(memory_mb * 2**20) // max(1, 8 * n_features * (knn + 8)))


def translation_tables_from_files(dataset: str, data_path, folds: pd.DataFrame, scores_paths: dict[int, str],
                                  source_representation: dict[str, np.ndarray], knn: int = 15,
                                  unlabelled: tuple[str, ...] = ("unlabelled", "other"), memory_mb: float = 512,
                                  block: int | None = None):
    """:func:`translation_tables` from the files, a block of cells at a time
    (:mod:`mima.evaluate.translation_stream`): memory bounded by
    ``memory_mb`` (or ``block`` held-out cells) whatever the number of cells.

    MIMA's per-cell MSEs and per-feature agreement come from each fold's
    held-out scores; the true values, centroids and the kNN baseline from
    the prepared dataset.

    Parameters
    ----------
    data_path
        The prepared dataset (``.h5mu``); only blocks of rows are read.
    scores_paths
        ``{fold: held-out scores file}`` (:func:`mima.evaluate.heldout.write_heldout_scores`).
    Others
        As for :func:`translation_tables`.

    Returns
    -------
    mse, r2, per_cell : pandas.DataFrame
        The same tables as :func:`translation_tables`.
    """
    from ..data.h5mu_rows import H5muRows
    from .translation_stream import FeatureAgreement, LabelSums, knn_block
    from .translation import per_cell_mse, summarise
    from sklearn.neighbors import NearestNeighbors

    scores = {fold: md.read_h5mu(path) for fold, path in sorted(scores_paths.items())}
    mse_frames, r2_frames, per_cell_frames = [], [], []
    with H5muRows(data_path) as data:
        fold_of = cell_folds(folds, data.obs_names)
        labels = data.obs["label"].astype(str).to_numpy() if "label" in data.obs else np.full(data.n_obs, None)
        for fold, fold_scores in scores.items():
            expected = data.obs_names[fold_of == fold]
            if not fold_scores.obs_names.equals(expected):
                raise ValueError(f"{scores_paths[fold]}: its cells are not fold {fold}'s held-out cells of "
                                 f"{data_path} in order: rerun predict_mima_fold")
        for target in data.mod:
            hvf = data.var(target)["hvf"].to_numpy(dtype=bool)
            d = int(hvf.sum())
            size = block or _block_rows(d, knn, memory_mb)

            def values(rows, target=target, hvf=hvf):
                return dense(data.rows(target, rows)[:, hvf], np.float32)

            centroids = LabelSums(labels, d, unlabelled)
            for start in range(0, data.n_obs, size):
                rows = np.arange(start, min(start + size, data.n_obs))
                centroids.update(rows, values(rows))
            for source in (m for m in data.mod if m != target):
                pooled = {"mima": FeatureAgreement(d), "knn_baseline": FeatureAgreement(d)}
                pair_frames = []
                for fold, fold_scores in scores.items():
                    target_scores = fold_scores.mod[target]
                    features = list(target_scores.var_names)
                    if len(features) != d:
                        raise ValueError(f"{scores_paths[fold]}: {len(features)} evaluation features of {target}, "
                                         f"the dataset has {d}: rerun predict_mima_fold")
                    pooled["mima"].merge(FeatureAgreement.from_columns(target_scores.var, target_scores.n_obs,
                                                                       f"_from_{source}"))
                    heldout_index = np.flatnonzero(fold_of == fold)
                    train_index = np.flatnonzero(fold_of != fold)
                    representation = source_representation[source]
                    if not 1 <= knn <= train_index.size:
                        raise ValueError(f"k={knn} must be between 1 and the number of training cells "
                                         f"({train_index.size})")
                    search = NearestNeighbors(n_neighbors=knn, metric="euclidean").fit(representation[train_index])
                    neighbours = train_index[search.kneighbors(representation[heldout_index], return_distance=False)]
                    rows_frames = []
                    for start in range(0, heldout_index.size, size):
                        local = np.arange(start, min(start + size, heldout_index.size))
                        rows = heldout_index[local]
                        own = values(rows).astype(np.float64)
                        same, different = centroids.centroids(rows, own)
                        knn_prediction = knn_block(neighbours[local], values)
                        rows_frames.append(pd.DataFrame({
                            "cell": np.asarray(data.obs_names[rows]),
                            "translation": target_scores.obs[f"translation_mse_from_{source}"].to_numpy()[local],
                            "reconstruction": target_scores.obs["reconstruction_mse"].to_numpy()[local],
                            "same_centroid": per_cell_mse(own, same),
                            "different_centroid": per_cell_mse(own, different),
                            "knn_baseline": per_cell_mse(own, knn_prediction)}))
                        pooled["knn_baseline"].update(own, knn_prediction)
                    per_cell = pd.concat(rows_frames, ignore_index=True)
                    per_cell.insert(0, "fold", fold)
                    pair_frames.append(per_cell.assign(source=source, target=target))
                    mse_frames.append(summarise(per_cell.drop(columns="fold"))
                                      .assign(source=source, target=target, fold=str(fold)))
                per_cell_frames.extend(pair_frames)
                every_cell = pd.concat(pair_frames)
                mse_frames.append(summarise(every_cell.drop(columns=["fold", "source", "target"]))
                                  .assign(source=source, target=target, fold="all"))
                for method in ("mima", "knn_baseline"):
                    long = pooled[method].result(features).melt(id_vars="feature", var_name="metric",
                                                                value_name="value")
                    r2_frames.append(long.assign(method=method, source=source, target=target))
    mse = pd.concat(mse_frames, ignore_index=True).assign(dataset=dataset, method="mima", embedding="")
    mse = mse[["dataset", "method", "embedding", "source", "target", "fold", "metric", "value"]]
    r2 = pd.concat(r2_frames, ignore_index=True).assign(dataset=dataset, embedding="")
    r2 = r2[["dataset", "method", "embedding", "source", "target", "feature", "metric", "value"]]
    return mse, r2, pd.concat(per_cell_frames, ignore_index=True)
