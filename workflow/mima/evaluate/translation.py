"""Translation evaluation (DESIGN §4, Translation): held-out MSEs, centroid
baselines and per-feature correlations.

MIMA is retrained per within-sample fold (4CV); for the held-out cells of a
fold and an ordered modality pair source → target the caller holds the true
target values, MIMA's translation (source → target, never reading the
target) and MIMA's reconstruction of the target (denoised, from all
modalities), all already subset to the target's evaluation features
(``var['hvf']``). Everything here is pure: arrays in, DataFrames out; the
rule adapter adds ``dataset, method, embedding, source, target, fold`` and
writes the long tables of DESIGN §2 (``translation_mse``,
``translation_r2``).

Outputs
-------
:func:`translation_errors` — one row per held-out cell:

- ``cell``: the cell's name (or its position in the dataset),
- ``translation``: MSE of MIMA's translation vs the true target,
- ``reconstruction``: MSE of MIMA's reconstruction vs the true target,
- ``same_centroid``: MSE of the leave-one-out same-annotation centroid
  (mean of all *other* cells with the cell's label, over the whole dataset),
- ``different_centroid``: MSE of the different-annotation centroid (mean of
  all cells whose label differs from the cell's, over the whole dataset),
- ``knn_baseline`` (only when a kNN prediction is given): MSE of the kNN
  regression baseline (:func:`knn_regression_baseline`).

Each MSE is the mean over the evaluation features of the squared error.
A centroid MSE is NaN where the centroid does not exist (see
:func:`centroid_predictions`).

:func:`summarise` — long format, columns ``metric, value``: for each MSE
column ``c`` of the per-cell table, ``c_mean`` and ``c_median`` over the
cells, NaN cells skipped.

:func:`feature_correlations` — one row per evaluation feature, columns
``feature, pearson_r, r2, r2_score``: Pearson's r between the true and
predicted values over the held-out cells, ``r2 = pearson_r ** 2`` (the
*squared Pearson correlation*, the study's "r²"), and ``r2_score``, the
coefficient of determination ``1 - SS_res / SS_tot`` (sklearn's ``r2_score``
per feature) — a different quantity, stored separately, never to be
confused with ``r2``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..utils import dense

PER_CELL_COLUMNS = ["cell", "translation", "reconstruction", "same_centroid", "different_centroid"]
KNN_COLUMN = "knn_baseline"
SUMMARY_COLUMNS = ["metric", "value"]
CORRELATION_COLUMNS = ["feature", "pearson_r", "r2", "r2_score"]


def _dense_2d(x) -> np.ndarray:
    """A 2-D float64 ndarray of ``x`` (sparse matrices densified)."""
    x = dense(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (cells × features), got shape {x.shape}")
    return x


def _cells_by_rows(x):
    """``x`` in a form that supports row indexing (ndarray or CSR/CSC)."""
    if sp.issparse(x):
        return x if x.format in ("csr", "csc") else x.tocsr()
    return np.asarray(x)


def _positions(index, n: int) -> np.ndarray:
    """Integer positions from ``None`` (all), a boolean mask or integers."""
    if index is None:
        return np.arange(n)
    index = np.asarray(index)
    if index.dtype == bool:
        if index.shape != (n,):
            raise ValueError(f"boolean mask of length {index.shape[0] if index.ndim else 0}, expected {n}")
        return np.flatnonzero(index)
    if index.size and not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"positions must be integers or a boolean mask, got dtype {index.dtype}")
    index = index.astype(np.int64).ravel()
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f"positions out of range for {n} cells")
    return np.where(index < 0, index + n, index)


def _label_codes(labels, n: int, missing: Collection) -> np.ndarray:
    """Integer code per cell; -1 for cells without a label."""
    values = pd.Series(np.asarray(labels, dtype=object).ravel())
    if len(values) != n:
        raise ValueError(f"{len(values)} labels for {n} cells")
    unlabelled = values.isna().to_numpy()
    if len(missing):
        unlabelled |= values.isin(list(missing)).to_numpy()
    codes = np.full(n, -1, dtype=np.int64)
    codes[~unlabelled], _ = pd.factorize(values[~unlabelled])
    return codes


def centroid_predictions(values, labels, at=None, missing: Collection = ()) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out annotation centroids (the study's centroid baselines).

    For a cell ``i`` with label ``l``:

    - ``same[i]`` = mean of all *other* cells with label ``l``
      (``(S_l - x_i) / (n_l - 1)``),
    - ``different[i]`` = mean of all labelled cells whose label is not ``l``
      (``(S - S_l) / (N - n_l)``; cell ``i`` is never in it),

    where ``S_l``, ``n_l`` are label ``l``'s feature sums and cell count and
    ``S``, ``N`` those of all labelled cells. Only per-label sums are
    formed: O(n·d) time, O(k·d) extra memory for k labels, never an n × n
    matrix; only the rows asked for (``at``) are materialised.

    A cell's own value never enters its centroids.

    Parameters
    ----------
    values
        Cells × features (dense or scipy sparse), every cell of the
        dataset, finite.
    labels
        Annotation per cell (length n). ``None`` / NaN (and any value in
        ``missing``) means *no label*.
    at
        Cells to return centroids for: ``None`` (all), a boolean mask or
        integer positions; rows come back in this order.
    missing
        Label values treated as no label (e.g. ``("unlabelled",)``).

    Returns
    -------
    same, different : numpy.ndarray
        Float64, ``len(at)`` × features each.

    Notes
    -----
    - A label held by a single cell has no same-annotation centroid: its
      ``same`` row is NaN.
    - If every labelled cell has the same label, ``different`` is NaN.
    - Unlabelled cells (choice): they contribute to no centroid — neither
      to any label's mean nor to any different-annotation mean, since
      "unlabelled" is not an annotation — and both of their own centroid
      rows are NaN.
    """
    values = _cells_by_rows(values)
    n = values.shape[0]
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D array (cells × features), got shape {values.shape}")
    codes = _label_codes(labels, n, missing)
    rows = _positions(at, n)
    n_labels = int(codes.max()) + 1 if n else 0
    d = values.shape[1]

    sums = np.zeros((n_labels, d))
    counts = np.zeros(n_labels)
    for code in range(n_labels):
        members = np.flatnonzero(codes == code)
        counts[code] = members.size
        sums[code] = np.asarray(values[members].sum(axis=0, dtype=np.float64)).ravel()
    total, n_total = sums.sum(axis=0), counts.sum()

    own = _dense_2d(values[rows]) if rows.size else np.zeros((0, d))
    code = codes[rows]
    labelled = code >= 0
    same = np.full((rows.size, d), np.nan)
    different = np.full((rows.size, d), np.nan)
    if labelled.any():
        c = code[labelled]
        n_same = counts[c] - 1
        ok = n_same > 0
        idx = np.flatnonzero(labelled)[ok]
        same[idx] = (sums[c[ok]] - own[idx]) / n_same[ok, None]
        n_diff = n_total - counts[c]
        ok = n_diff > 0
        idx = np.flatnonzero(labelled)[ok]
        different[idx] = (total - sums[c[ok]]) / n_diff[ok, None]
    return same, different


def per_cell_mse(true, predicted) -> np.ndarray:
    """Mean squared error per cell, averaged over features.

    Parameters
    ----------
    true, predicted
        Cells × features, same shape (dense or sparse).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_cells,)``; NaN where a predicted row holds NaN (e.g. a
        missing centroid).
    """
    true, predicted = _dense_2d(true), _dense_2d(predicted)
    if true.shape != predicted.shape:
        raise ValueError(f"true {true.shape} and predicted {predicted.shape} differ in shape")
    if true.shape[1] == 0:
        return np.full(true.shape[0], np.nan)
    return ((true - predicted) ** 2).mean(axis=1)


def feature_correlations(true, predicted, features: Sequence | None = None) -> pd.DataFrame:
    """Per-feature agreement between true and predicted values over cells.

    Parameters
    ----------
    true, predicted
        Cells × features, same shape (dense or sparse).
    features
        Feature names (default: positions 0 .. d-1).

    Returns
    -------
    pandas.DataFrame
        Columns ``feature, pearson_r, r2, r2_score``, one row per feature:

        - ``pearson_r``: Pearson's correlation between the true and
          predicted values of the feature across cells;
        - ``r2``: ``pearson_r ** 2`` — the **squared Pearson correlation**,
          the study's definition of r², *not* the coefficient of
          determination;
        - ``r2_score``: the coefficient of determination
          ``1 - Σ(true - pred)² / Σ(true - mean(true))²`` (sklearn's
          ``r2_score`` per feature), which also penalises bias and scale
          and can be negative.

        A feature constant in ``true`` or in ``predicted`` (or fewer than
        two cells) has NaN ``pearson_r``/``r2``; a feature constant in
        ``true`` has NaN ``r2_score``. No warnings are emitted for them.
    """
    true, predicted = _dense_2d(true), _dense_2d(predicted)
    if true.shape != predicted.shape:
        raise ValueError(f"true {true.shape} and predicted {predicted.shape} differ in shape")
    n, d = true.shape
    if features is None:
        features = np.arange(d)
    features = np.asarray(features)
    if features.shape != (d,):
        raise ValueError(f"{features.size} feature names for {d} features")

    if n < 2:
        r = np.full(d, np.nan)
        score = np.full(d, np.nan)
    else:
        # Exact constancy (peak-to-peak 0), not a variance threshold: centring
        # a constant column can leave round-off that would give a spurious r.
        true_varies = np.ptp(true, axis=0) > 0
        pred_varies = np.ptp(predicted, axis=0) > 0
        tc = true - true.mean(axis=0)
        pc = predicted - predicted.mean(axis=0)
        ss_true = (tc ** 2).sum(axis=0)
        ss_pred = (pc ** 2).sum(axis=0)
        ss_res = ((true - predicted) ** 2).sum(axis=0)
        ok = true_varies & pred_varies
        r = np.full(d, np.nan)
        r[ok] = np.clip((tc[:, ok] * pc[:, ok]).sum(axis=0) / np.sqrt(ss_true[ok] * ss_pred[ok]), -1.0, 1.0)
        score = np.full(d, np.nan)
        score[true_varies] = 1.0 - ss_res[true_varies] / ss_true[true_varies]
    return pd.DataFrame({"feature": features, "pearson_r": r, "r2": r ** 2, "r2_score": score},
                        columns=CORRELATION_COLUMNS)


def knn_regression_baseline(train_source, train_target, test_source, k: int = 15) -> np.ndarray:
    """kNN regression from source to target: a non-MIMA translation baseline.

    A held-out cell's target is predicted as the (unweighted) mean target
    of its ``k`` nearest *training* cells, neighbours found by Euclidean
    distance in the given source representation
    (``sklearn.neighbors.NearestNeighbors``, exact search). Only training
    targets are read; each test cell is predicted independently of the
    other test cells. There is no randomness (nothing to seed): equal inputs
    give equal outputs; ties in distance are broken by the search, not by
    chance.

    Parameters
    ----------
    train_source
        Training cells × source features (dense or sparse).
    train_target
        Training cells × target features (dense or sparse), same cells.
    test_source
        Held-out cells × source features, same representation as
        ``train_source``.
    k
        Number of neighbours; must not exceed the number of training cells.

    Returns
    -------
    numpy.ndarray
        Held-out cells × target features, float64.
    """
    from sklearn.neighbors import NearestNeighbors  # optional dependency (evaluate extra)

    n_train = train_source.shape[0]
    if train_target.shape[0] != n_train:
        raise ValueError(f"{n_train} training sources but {train_target.shape[0]} training targets")
    if test_source.shape[1] != train_source.shape[1]:
        raise ValueError("train_source and test_source have different numbers of features")
    if not 1 <= k <= n_train:
        raise ValueError(f"k={k} must be between 1 and the number of training cells ({n_train})")
    n_test = test_source.shape[0]
    if n_test == 0:
        return np.zeros((0, train_target.shape[1]))
    nn = NearestNeighbors(n_neighbors=k, metric="euclidean").fit(train_source)
    neighbours = nn.kneighbors(test_source, return_distance=False)
    # Averaging operator (test × train, 1/k per neighbour): works for dense
    # and sparse targets without gathering a test × k × d block.
    weights = sp.csr_matrix((np.full(neighbours.size, 1.0 / k), neighbours.ravel(),
                             np.arange(0, neighbours.size + 1, k)), shape=(n_test, n_train))
    target = train_target if sp.issparse(train_target) else np.asarray(train_target, dtype=np.float64)
    out = weights @ target
    return dense(out, np.float64)


def translation_errors(true, translated, reconstructed, labels_all, values_all, heldout_index,
                       knn=None, cells: Sequence | None = None, missing: Collection = ()) -> pd.DataFrame:
    """Per-held-out-cell MSEs of MIMA and of the baselines (one fold, one pair).

    Parameters
    ----------
    true
        Held-out cells × target evaluation features: the true target.
    translated
        Same shape: MIMA's translation source → target.
    reconstructed
        Same shape: MIMA's (denoised) reconstruction of the target.
    labels_all
        Annotation of every cell of the dataset (see
        :func:`centroid_predictions` for unlabelled cells).
    values_all
        Every cell of the dataset × the same target evaluation features
        (dense or sparse): the centroids are computed over all cells,
        leave-one-out, and taken at the held-out cells.
    heldout_index
        Positions of the held-out cells in ``values_all`` / ``labels_all``
        (integers, or a boolean mask — then in dataset order), in the order
        of the rows of ``true``. ``values_all[heldout_index]`` must equal
        ``true`` (checked, to catch misaligned rows).
    knn
        Optional kNN-baseline prediction (same shape as ``true``); adds the
        ``knn_baseline`` column.
    cells
        Names of the held-out cells (default: their positions).
    missing
        Label values treated as no label (e.g. ``("unlabelled",)``).

    Returns
    -------
    pandas.DataFrame
        Columns ``cell, translation, reconstruction, same_centroid,
        different_centroid`` (+ ``knn_baseline``), one row per held-out cell
        in the order of ``true``. Centroid MSEs are NaN for cells without a
        label and for the only cell of its label (same-annotation).
    """
    true = _dense_2d(true)
    values_all = _cells_by_rows(values_all)
    rows = _positions(heldout_index, values_all.shape[0])
    if rows.size != true.shape[0]:
        raise ValueError(f"{rows.size} held-out positions for {true.shape[0]} rows of true")
    if values_all.shape[1] != true.shape[1]:
        raise ValueError(f"values_all has {values_all.shape[1]} features, true {true.shape[1]}")
    if not np.allclose(_dense_2d(values_all[rows]), true, rtol=1e-5, atol=1e-6, equal_nan=True):
        raise ValueError("true does not match values_all at heldout_index: rows misaligned "
                         "or a different feature space")
    same, different = centroid_predictions(values_all, labels_all, at=rows, missing=missing)
    out = {
        "cell": np.asarray(cells) if cells is not None else rows,
        "translation": per_cell_mse(true, translated),
        "reconstruction": per_cell_mse(true, reconstructed),
        "same_centroid": per_cell_mse(true, same),
        "different_centroid": per_cell_mse(true, different),
    }
    if len(out["cell"]) != rows.size:
        raise ValueError(f"{len(out['cell'])} cell names for {rows.size} held-out cells")
    columns = list(PER_CELL_COLUMNS)
    if knn is not None:
        out[KNN_COLUMN] = per_cell_mse(true, knn)
        columns.append(KNN_COLUMN)
    return pd.DataFrame(out, columns=columns)


def summarise(per_cell: pd.DataFrame) -> pd.DataFrame:
    """Mean and median of each MSE column of a :func:`translation_errors` table.

    Parameters
    ----------
    per_cell
        Output of :func:`translation_errors` (any numeric columns besides
        ``cell`` are summarised).

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``metric, value``: for each MSE column ``c`` in
        table order, rows ``c_mean`` then ``c_median`` (e.g.
        ``translation_mean``, ``translation_median``, ...). NaN cells (no
        centroid) are skipped; an all-NaN column gives NaN.
    """
    rows = []
    for column in per_cell.columns:
        if column == "cell":
            continue
        values = pd.to_numeric(per_cell[column], errors="raise").astype(float).dropna()
        empty = values.empty  # all NaN: NaN, without numpy's empty-slice warning
        rows.append({"metric": f"{column}_mean", "value": np.nan if empty else float(values.mean())})
        rows.append({"metric": f"{column}_median", "value": np.nan if empty else float(values.median())})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
