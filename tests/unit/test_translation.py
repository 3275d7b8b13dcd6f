"""Translation evaluation (DESIGN §4): centroid baselines, MSEs, per-feature
correlations, kNN baseline."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import pearsonr

from mima.evaluate.translation import (
    centroid_predictions,
    feature_correlations,
    knn_regression_baseline,
    per_cell_mse,
    summarise,
    translation_errors,
)

# 5 cells × 2 features, labels A A A B B.
VALUES = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [10.0, 0.0], [20.0, 10.0]])
LABELS = np.array(["A", "A", "A", "B", "B"], dtype=object)
# Written by hand: same = mean of the OTHER cells of the label, different =
# mean of the cells of the other label.
SAME = np.array([[4.0, 3.0],     # mean(x1, x2)
                 [3.0, 2.0],     # mean(x0, x2)
                 [2.0, 1.0],     # mean(x0, x1)
                 [20.0, 10.0],   # x4
                 [10.0, 0.0]])   # x3
DIFFERENT = np.array([[15.0, 5.0]] * 3 + [[3.0, 2.0]] * 2)
SAME_MSE = np.array([9.0, 0.0, 9.0, 100.0, 100.0])              # e.g. ((1-4)² + (0-3)²) / 2
DIFFERENT_MSE = np.array([110.5, 76.5, 50.5, 26.5, 176.5])      # e.g. ((1-15)² + (0-5)²) / 2


def test_centroids_match_the_hand_computation():
    same, different = centroid_predictions(VALUES, LABELS)
    np.testing.assert_allclose(same, SAME)
    np.testing.assert_allclose(different, DIFFERENT)
    np.testing.assert_allclose(per_cell_mse(VALUES, same), SAME_MSE)
    np.testing.assert_allclose(per_cell_mse(VALUES, different), DIFFERENT_MSE)


def test_centroids_at_selected_cells_sparse_and_categorical_inputs():
    same, different = centroid_predictions(sp.csr_matrix(VALUES), pd.Categorical(LABELS), at=[4, 0])
    np.testing.assert_allclose(same, SAME[[4, 0]])
    np.testing.assert_allclose(different, DIFFERENT[[4, 0]])
    mask = np.array([False, True, False, True, False])
    same, _ = centroid_predictions(VALUES, list(LABELS), at=mask)
    np.testing.assert_allclose(same, SAME[[1, 3]])


def test_translation_errors_by_hand():
    held = [3, 0]
    true = VALUES[held]
    translated = np.array([[10.0, 2.0], [1.0, 0.0]])       # MSE (0 + 4)/2 = 2, 0
    reconstructed = np.array([[12.0, 0.0], [0.0, 1.0]])    # MSE (4 + 0)/2 = 2, (1 + 1)/2 = 1
    knn = np.array([[10.0, 0.0], [4.0, 4.0]])              # MSE 0, (9 + 16)/2 = 12.5
    table = translation_errors(true, translated, reconstructed, LABELS, VALUES, held, knn=knn,
                               cells=["c3", "c0"])
    assert list(table.columns) == ["cell", "translation", "reconstruction", "same_centroid",
                                   "different_centroid", "knn_baseline"]
    assert list(table["cell"]) == ["c3", "c0"]
    np.testing.assert_allclose(table["translation"], [2.0, 0.0])
    np.testing.assert_allclose(table["reconstruction"], [2.0, 1.0])
    np.testing.assert_allclose(table["same_centroid"], SAME_MSE[held])
    np.testing.assert_allclose(table["different_centroid"], DIFFERENT_MSE[held])
    np.testing.assert_allclose(table["knn_baseline"], [0.0, 12.5])
    without = translation_errors(true, translated, reconstructed, LABELS, VALUES, held)
    assert "knn_baseline" not in without.columns
    assert list(without["cell"]) == held


def test_translation_errors_rejects_misaligned_rows():
    true = VALUES[[0, 3]]
    with pytest.raises(ValueError, match="misaligned"):
        translation_errors(true, true, true, LABELS, VALUES, [3, 0])


def test_a_cells_own_value_never_enters_its_centroids():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 6))
    labels = rng.choice(["a", "b", "c"], size=40)
    same, different = centroid_predictions(values, labels)
    for i in (0, 7, 23):
        perturbed = values.copy()
        perturbed[i] += 1000.0
        same_p, different_p = centroid_predictions(perturbed, labels)
        np.testing.assert_allclose(same_p[i], same[i], atol=1e-9)
        np.testing.assert_allclose(different_p[i], different[i], atol=1e-9)
        mates = np.flatnonzero((labels == labels[i]) & (np.arange(40) != i))
        others = np.flatnonzero(labels != labels[i])
        assert np.all(np.abs(same_p[mates] - same[mates]) > 1.0)        # it is in its mates' centroids
        assert np.all(np.abs(different_p[others] - different[others]) > 1.0)
        np.testing.assert_allclose(same[i], values[mates].mean(0))     # and the LOO mean is right
        np.testing.assert_allclose(different[i], values[others].mean(0))


def test_singleton_and_unlabelled_cells():
    values = np.array([[0.0], [2.0], [10.0], [100.0], [7.0]])
    labels = ["A", "A", "B", None, "unlabelled"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same, different = centroid_predictions(values, labels, missing=("unlabelled",))
    np.testing.assert_allclose(same[:2, 0], [2.0, 0.0])
    assert np.isnan(same[2]).all()                       # single-cell label: no same centroid
    np.testing.assert_allclose(different[:3, 0], [10.0, 10.0, 1.0])   # unlabelled cells excluded
    assert np.isnan(same[3:]).all() and np.isnan(different[3:]).all()
    # 'unlabelled' counts as a label unless named in `missing`
    _, different = centroid_predictions(values, labels)
    np.testing.assert_allclose(different[2, 0], 3.0)      # mean(0, 2, 7)


def test_per_cell_mse_by_hand():
    true = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    predicted = np.array([[1.0, 0.0, 6.0], [1.0, -1.0, 2.0]])
    np.testing.assert_allclose(per_cell_mse(true, predicted), [(0 + 4 + 9) / 3, (1 + 1 + 4) / 3])
    assert np.isnan(per_cell_mse(true, np.full((2, 3), np.nan))).all()
    with pytest.raises(ValueError):
        per_cell_mse(true, predicted[:, :2])


def test_feature_correlations_match_numpy_and_scipy():
    rng = np.random.default_rng(1)
    true = rng.normal(size=(50, 4))
    predicted = 0.5 * true + rng.normal(scale=0.7, size=(50, 4)) + 3.0
    table = feature_correlations(true, predicted, features=["f0", "f1", "f2", "f3"])
    assert list(table.columns) == ["feature", "pearson_r", "r2", "r2_score"]
    assert list(table["feature"]) == ["f0", "f1", "f2", "f3"]
    for j in range(4):
        expected = pearsonr(true[:, j], predicted[:, j]).statistic
        assert table["pearson_r"][j] == pytest.approx(expected, abs=1e-12)
        assert table["pearson_r"][j] == pytest.approx(np.corrcoef(true[:, j], predicted[:, j])[0, 1], abs=1e-12)
        assert table["r2"][j] == pytest.approx(expected ** 2, abs=1e-12)
        ss_res = ((true[:, j] - predicted[:, j]) ** 2).sum()
        ss_tot = ((true[:, j] - true[:, j].mean()) ** 2).sum()
        assert table["r2_score"][j] == pytest.approx(1 - ss_res / ss_tot, abs=1e-12)
    # the offset makes the coefficient of determination negative while r² is not
    assert (table["r2_score"] < 0).all() and (table["r2"] > 0).all()


def test_constant_features_give_nan_without_warnings():
    rng = np.random.default_rng(2)
    true = rng.normal(size=(20, 3))
    predicted = true + rng.normal(scale=0.1, size=(20, 3))
    true[:, 0] = 0.1             # constant true (mean of 0.1s is not exactly 0.1)
    predicted[:, 1] = 5.0        # constant prediction
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = feature_correlations(true, predicted)
        single = feature_correlations(true[:1], predicted[:1])
    assert np.isnan(table["pearson_r"][:2]).all() and np.isnan(table["r2"][:2]).all()
    assert np.isfinite(table["pearson_r"][2])
    assert np.isnan(table["r2_score"][0]) and np.isfinite(table["r2_score"][1:]).all()
    assert single[["pearson_r", "r2", "r2_score"]].isna().all().all()


def test_knn_with_k1_returns_the_identical_training_cells_target():
    rng = np.random.default_rng(3)
    train_source = rng.normal(size=(30, 5))
    train_target = rng.normal(size=(30, 4))
    test_source = train_source[[4, 17]] + 1e-9
    predicted = knn_regression_baseline(train_source, train_target, test_source, k=1)
    np.testing.assert_allclose(predicted, train_target[[4, 17]])
    # sparse inputs give the same answer
    sparse = knn_regression_baseline(sp.csr_matrix(train_source), sp.csr_matrix(train_target),
                                     sp.csr_matrix(test_source), k=1)
    np.testing.assert_allclose(sparse, predicted)


def test_knn_is_the_mean_of_the_k_nearest_training_targets_and_ignores_test_cells():
    rng = np.random.default_rng(4)
    train_source = rng.normal(size=(40, 3))
    train_target = rng.normal(size=(40, 2))
    test_source = rng.normal(size=(6, 3))
    predicted = knn_regression_baseline(train_source, train_target, test_source, k=5)
    for i in range(6):
        nearest = np.argsort(((train_source - test_source[i]) ** 2).sum(1))[:5]
        np.testing.assert_allclose(predicted[i], train_target[nearest].mean(0))
    # a test cell sitting on top of another test cell is not its neighbour:
    # predictions depend only on training cells, never on other test cells
    alone = knn_regression_baseline(train_source, train_target, test_source[:1], k=5)
    crowded = knn_regression_baseline(train_source, train_target,
                                      np.vstack([test_source[:1], test_source[:1] + 1e-6]), k=5)
    np.testing.assert_allclose(crowded[0], alone[0])
    np.testing.assert_allclose(
        knn_regression_baseline(train_source, train_target, test_source, k=5), predicted)
    with pytest.raises(ValueError):
        knn_regression_baseline(train_source, train_target, test_source, k=41)


def test_summarise_mean_and_median_skipping_nan():
    per_cell = pd.DataFrame({"cell": ["a", "b", "c"], "translation": [1.0, 2.0, 6.0],
                             "same_centroid": [np.nan, 4.0, 8.0], "knn_baseline": [np.nan] * 3})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summarise(per_cell)
    assert list(summary.columns) == ["metric", "value"]
    values = dict(zip(summary["metric"], summary["value"]))
    assert list(values) == ["translation_mean", "translation_median", "same_centroid_mean",
                            "same_centroid_median", "knn_baseline_mean", "knn_baseline_median"]
    assert values["translation_mean"] == pytest.approx(3.0)
    assert values["translation_median"] == pytest.approx(2.0)
    assert values["same_centroid_mean"] == pytest.approx(6.0)
    assert values["same_centroid_median"] == pytest.approx(6.0)
    assert np.isnan(values["knn_baseline_mean"]) and np.isnan(values["knn_baseline_median"])
