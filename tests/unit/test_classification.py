"""Classification (DESIGN §4): one-vs-rest balanced-bagging forests, metrics
scored only where a test fold holds >= 3 cells of the class, averaged over
classes then folds, LOOCV over samples and 4CV over the given folds."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mima.errors import InputError
from mima.evaluate import classification as clf

TINY = {"n_estimators": 3, "rf_n_estimators": 8}


class Scorer:
    """Stand-in classifier with known outputs. Column 0 of X is the cell's
    true class code, column 1 its id, columns 2.. a score per class code.
    ``fit`` learns which code is positive; ``predict_proba`` returns that
    code's score column as the positive probability."""

    def __init__(self, log):
        self.log = log

    def fit(self, X, y):
        X = X.toarray() if sp.issparse(X) else X
        codes = X[np.asarray(y) == 1, 0].astype(int)
        self.code = int(np.bincount(codes).argmax())
        self.classes_ = np.array([0, 1])
        self.log.append(("fit", self.code, set(X[:, 1].astype(int))))
        return self

    def predict_proba(self, X):
        X = X.toarray() if sp.issparse(X) else X
        self.log.append(("predict", self.code, set(X[:, 1].astype(int))))
        p = X[:, 2 + self.code].astype(float)
        return np.column_stack([1 - p, p])


@pytest.fixture
def scorer(monkeypatch):
    log = []
    monkeypatch.setattr(clf, "make_classifier", lambda **kwargs: Scorer(log))
    return log


def designed(cells):
    """X, labels of cells given as (true, predicted) class names A, B, C."""
    codes = {"A": 0, "B": 1, "C": 2}
    X = np.zeros((len(cells), 5))
    for i, (true, predicted) in enumerate(cells):
        X[i, 0], X[i, 1], X[i, 2 + codes[predicted]] = codes[true], i, 1.0
    return X, np.array([t for t, _ in cells])


# fold 0: A predicted A,A,A,B; B predicted B,B,C; C predicted C,C,C
FOLD0 = [("A", "A")] * 3 + [("A", "B")] + [("B", "B")] * 2 + [("B", "C")] + [("C", "C")] * 3
# fold 1: A predicted A,C,C; B (only 2 cells: never scored) B,B; C predicted C,C,C
FOLD1 = [("A", "A"), ("A", "C"), ("A", "C")] + [("B", "B")] * 2 + [("C", "C")] * 3

# hand-computed confusion counts -> (accuracy, precision, recall, f1)
EXPECTED = {
    ("0", "A"): (F(9, 10), F(1), F(3, 4), F(6, 7)),      # tp3 fp0 fn1 tn6
    ("0", "B"): (F(8, 10), F(2, 3), F(2, 3), F(2, 3)),   # tp2 fp1 fn1 tn6
    ("0", "C"): (F(9, 10), F(3, 4), F(1), F(6, 7)),      # tp3 fp1 fn0 tn6
    ("1", "A"): (F(6, 8), F(1), F(1, 3), F(1, 2)),       # tp1 fp0 fn2 tn5
    ("1", "C"): (F(6, 8), F(3, 5), F(1), F(3, 4)),       # tp3 fp2 fn0 tn3
}


def toy_run():
    X, labels = designed(FOLD0 + FOLD1)
    folds = np.array([0] * len(FOLD0) + [1] * len(FOLD1))
    batch = np.array(["s1", "s2"] * (len(labels) // 2))
    return clf.evaluate(X, labels, batch, "4cv", folds=folds), X, labels


def test_binary_metrics_by_hand():
    truth = np.array([1, 1, 1, 0, 0, 0, 0], bool)
    predicted = np.array([1, 1, 0, 1, 0, 0, 0], bool)  # tp2 fn1 fp1 tn3
    assert clf.binary_metrics(truth, predicted) == pytest.approx(
        {"accuracy": 5 / 7, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    # no predicted positive: precision (and F1) are 0, not NaN
    assert clf.binary_metrics(truth, np.zeros(7, bool))["precision"] == 0.0


def test_metrics_and_class_then_fold_averaging(scorer):
    (per_class, summary, _), _, _ = toy_run()
    assert list(per_class.columns) == clf.PER_CLASS_COLUMNS
    assert list(summary.columns) == clf.SUMMARY_COLUMNS
    scored = per_class.dropna(subset=["value"])
    got = {(f, c, m): v for f, c, m, v in scored[["fold", "class", "metric", "value"]].itertuples(index=False)}
    want = {(f, c, m): float(v) for (f, c), values in EXPECTED.items() for m, v in zip(clf.METRICS, values)}
    assert got == pytest.approx(want)

    s = summary.set_index(["fold", "class", "metric"])["value"]
    n = summary.set_index(["fold", "class", "metric"])["n"]
    for i, metric in enumerate(clf.METRICS):
        fold0 = sum(EXPECTED["0", c][i] for c in "ABC") / 3
        fold1 = sum(EXPECTED["1", c][i] for c in "AC") / 2      # B is not scored in fold 1
        assert s["0", "mean", metric] == pytest.approx(float(fold0))
        assert s["1", "mean", metric] == pytest.approx(float(fold1))
        assert s["mean", "mean", metric] == pytest.approx(float((fold0 + fold1) / 2))
        assert (n["0", "mean", metric], n["1", "mean", metric], n["mean", "mean", metric]) == (3, 2, 2)
    # the order matters here: pooling the five scored rows would give 0.82, not 97/120
    assert s["mean", "mean", "accuracy"] == pytest.approx(97 / 120)
    assert scored.loc[scored["metric"] == "accuracy", "value"].mean() == pytest.approx(0.82)


def test_fewer_than_three_test_cells_are_not_scored(scorer):
    (per_class, summary, _), _, _ = toy_run()
    b1 = per_class[(per_class["fold"] == "1") & (per_class["class"] == "B")]
    assert len(b1) == 4 and b1["value"].isna().all() and (b1["n_test"] == 2).all()
    assert (per_class.dropna(subset=["value"])["n_test"] >= 3).all()
    # the rule is min_test_instances: at 2, fold 1's B (2 of 2 predicted right) counts
    X, labels = designed(FOLD0 + FOLD1)
    folds = np.array([0] * len(FOLD0) + [1] * len(FOLD1))
    per2, summary2, _ = clf.evaluate(X, labels, np.array(["s"] * len(labels)), "4cv", folds=folds,
                                     min_test_instances=2)
    assert per2["value"].notna().all()
    fold1 = summary2.set_index(["fold", "metric"])["value"]["1", "recall"]
    assert fold1 == pytest.approx((1 / 3 + 1 + 1) / 3)


def test_predicted_label_is_argmax_of_one_vs_rest_probabilities(scorer):
    rng = np.random.default_rng(0)
    n = 60
    true = rng.integers(0, 3, n)
    X = np.column_stack([true, np.arange(n), rng.random((n, 3))])
    labels = np.array(["A", "B", "C"])[true]
    folds = np.arange(n) % 2
    _, _, predictions = clf.evaluate(X, labels, np.array(["s"] * n), "4cv", folds=folds)
    assert list(predictions.columns) == clf.PREDICTION_COLUMNS
    assert sorted(predictions["cell_index"]) == list(range(n))
    cells = predictions["cell_index"].to_numpy()
    want = np.array(["A", "B", "C"])[np.argmax(X[cells, 2:], axis=1)]
    assert (predictions["predicted"].to_numpy() == want).all()
    assert (predictions["true"].to_numpy() == labels[cells]).all()
    # and the hand toy's predictions are its designed ones
    (_, _, predictions), X, labels = toy_run()
    designed_label = np.array(["A", "B", "C"])[np.argmax(X[predictions["cell_index"], 2:], axis=1)]
    assert list(predictions["predicted"]) == [p for _, p in FOLD0 + FOLD1] == list(designed_label)


def test_excluded_classes_are_dropped(scorer):
    cells = FOLD0 + FOLD1
    X, labels = designed(cells)
    labels = labels.astype(object)
    labels[[0, 5, 12]] = ["nerve", "other", "nerve"]      # these cells must vanish
    excluded = {0, 5, 12}
    folds = np.array([0] * len(FOLD0) + [1] * len(FOLD1))
    per_class, summary, predictions = clf.evaluate(
        X, labels, np.array(["s"] * len(labels)), "4cv", folds=folds, exclude=["nerve", "other", "unlabelled"])
    assert set(per_class["class"]) == {"A", "B", "C"}
    assert not set(summary["class"]) & {"nerve", "other"}
    assert set(predictions["cell_index"]) == set(range(len(labels))) - excluded
    assert not set(predictions["predicted"]) & {"nerve", "other"}
    seen = set().union(*(ids for _, _, ids in scorer))
    assert seen == set(range(len(labels))) - excluded     # neither trained on nor tested
    with pytest.raises(InputError, match="exclude_labels"):
        clf.evaluate(X, labels, np.array(["s"] * len(labels)), "4cv", folds=folds, exclude=["A", "B", "nerve", "other"])


def test_splits():
    batch = np.array(["b", "a", "b", "c", "a", "c"])
    loocv = clf.splits("loocv", batch)
    assert [name for name, _, _ in loocv] == ["a", "b", "c"]
    for name, train, test in loocv:
        assert (batch[test] == name).all() and (batch[train] != name).all()
        assert sorted(np.r_[train, test]) == list(range(6))
    folds = np.array([1, 0, 0, 1, 2, 2])
    assert [(n, list(tr), list(te)) for n, tr, te in clf.splits("4cv", batch, folds)] == [
        ("0", [0, 3, 4, 5], [1, 2]), ("1", [1, 2, 4, 5], [0, 3]), ("2", [0, 1, 2, 3], [4, 5])]
    with pytest.raises(InputError, match="folds"):
        clf.splits("4cv", batch)
    with pytest.raises(InputError, match="scheme"):
        clf.splits("5cv", batch, folds)
    with pytest.raises(InputError, match="two samples"):
        clf.splits("loocv", np.array(["a"] * 4))


def separable(n_per=30, samples=("s1", "s2", "s3"), classes=("T", "U", "V"), seed=0, noise=0.3):
    """Cells of each class around far-apart centres, in every sample. Column
    0 is the sample's code, column 1 the cell id (so an instrumented fit can
    tell which cells it saw)."""
    rng = np.random.default_rng(seed)
    rows, labels, batch = [], [], []
    for s, sample in enumerate(samples):
        for c, cls in enumerate(classes):
            centre = np.zeros(4)
            centre[c] = 5.0
            rows.append(centre + noise * rng.normal(size=(n_per, 4)))
            labels += [cls] * n_per
            batch += [sample] * n_per
    X = np.vstack(rows)
    codes = np.repeat(np.arange(len(samples)), n_per * len(classes))
    X = np.column_stack([codes, np.arange(len(X)), X])
    return X, np.array(labels), np.array(batch)


@pytest.fixture
def instrumented(monkeypatch):
    """The real classifier, with every fit / predict_proba call recorded."""
    log = []
    original = clf.make_classifier

    def make(**kwargs):
        model = original(**kwargs)
        fit, proba = model.fit, model.predict_proba

        def recorded_fit(X, y):
            log.append(("fit", sp.issparse(X), X))
            return fit(X, y)

        def recorded_proba(X):
            log.append(("predict", sp.issparse(X), X))
            return proba(X)

        model.fit, model.predict_proba = recorded_fit, recorded_proba
        return model

    monkeypatch.setattr(clf, "make_classifier", make)
    return log


def pairs(log):
    """(training cells, test cells) of each classifier, as id arrays."""
    dense = [(kind, X.toarray() if sparse else X) for kind, sparse, X in log]
    assert [k for k, _ in dense] == ["fit", "predict"] * (len(dense) // 2)
    return [(dense[i][1], dense[i + 1][1]) for i in range(0, len(dense), 2)]


def test_loocv_never_trains_on_the_held_out_sample(instrumented):
    X, labels, batch = separable()
    per_class, summary, predictions = clf.evaluate(X, labels, batch, "loocv", seed=0, **TINY)
    fitted = pairs(instrumented)
    assert len(fitted) == 3 * 3                               # 3 held-out samples x 3 classes
    for train, test in fitted:
        held_out = set(test[:, 0])
        assert len(held_out) == 1                             # tests one sample ...
        assert not held_out & set(train[:, 0])                # ... never seen in training
        assert set(train[:, 0]) | held_out == {0, 1, 2}       # trained on all the others
        assert len(train) + len(test) == len(X)
    assert sorted(per_class["fold"].unique()) == ["s1", "s2", "s3"]
    for fold, group in predictions.groupby("fold"):
        assert set(batch[group["cell_index"]]) == {fold}


def test_4cv_uses_exactly_the_given_folds(instrumented):
    from mima.data.folds import within_sample_folds

    X, labels, batch = separable()
    folds = within_sample_folds(pd.Series(batch, index=[f"c{i}" for i in range(len(batch))]), 4, seed=1)["fold"]
    folds = folds.to_numpy()
    per_class, _, predictions = clf.evaluate(X, labels, batch, "4cv", folds=folds, **TINY)
    fitted = pairs(instrumented)
    assert len(fitted) == 4 * 3
    for k, (train, test) in enumerate(fitted):
        fold = k // 3
        assert set(test[:, 1].astype(int)) == set(np.flatnonzero(folds == fold))
        assert set(train[:, 1].astype(int)) == set(np.flatnonzero(folds != fold))
    assert sorted(per_class["fold"].unique()) == ["0", "1", "2", "3"]
    assert (folds[predictions["cell_index"]].astype(str) == predictions["fold"]).all()


def test_separable_data_is_learned_and_shuffled_labels_are_not():
    X, labels, batch = separable(n_per=40)
    X = X[:, 2:]                                              # the features only
    _, summary, predictions = clf.evaluate(X, labels, batch, "loocv", seed=0, **TINY)
    mean = summary.set_index(["fold", "metric"])["value"]
    assert mean["mean", "accuracy"] > 0.9 and mean["mean", "f1"] > 0.9
    assert (predictions["predicted"] == predictions["true"]).mean() > 0.9

    shuffled = np.random.default_rng(1).permutation(labels)
    _, summary, predictions = clf.evaluate(X, shuffled, batch, "loocv", seed=0, **TINY)
    mean = summary.set_index(["fold", "metric"])["value"]
    assert mean["mean", "f1"] < 0.6 and mean["mean", "accuracy"] < 0.65
    assert abs((predictions["predicted"] == predictions["true"]).mean() - 1 / 3) < 0.12


def test_sparse_equals_dense_and_seed_is_reproducible(instrumented):
    X, labels, batch = separable(noise=2.0)                  # overlapping: forests differ by seed
    X = X[:, 2:]
    X[np.abs(X) < 1.0] = 0.0
    dense = clf.evaluate(X, labels, batch, "loocv", seed=3, **TINY)
    instrumented.clear()
    sparse = clf.evaluate(sp.csr_matrix(X), labels, batch, "loocv", seed=3, **TINY)
    assert all(is_sparse for _, is_sparse, _ in instrumented)  # never densified
    again = clf.evaluate(X, labels, batch, "loocv", seed=3, **TINY)
    for a, b, c in zip(dense, sparse, again):
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(a, c)
    other = clf.evaluate(X, labels, batch, "loocv", seed=4, **TINY)
    assert not other[0]["value"].equals(dense[0]["value"])


def test_threads_do_not_change_the_results():
    X, labels, batch = separable(noise=2.0)
    X = X[:, 2:]
    one = clf.evaluate(X, labels, batch, "loocv", seed=3, **dict(TINY, n_jobs=1))
    two = clf.evaluate(X, labels, batch, "loocv", seed=3, **dict(TINY, n_jobs=2))
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
    forest = clf.make_classifier(seed=0, n_jobs=2).estimator
    assert forest.n_jobs == 2 and clf.make_classifier(seed=0, n_jobs=2).n_jobs == 1


def test_classes_missing_from_training_do_not_crash():
    X, labels, batch = separable(n_per=20)
    X = X[:, 2:]
    labels = labels.astype(object)
    labels[:4] = "rare"          # only in s1: no training cells when s1 is held out
    labels[60:61] = "rare"       # one cell in s2: bags may miss it
    per_class, summary, predictions = clf.evaluate(X, labels, batch, "loocv", seed=0, **TINY)
    rare = per_class[(per_class["class"] == "rare") & (per_class["fold"] == "s1")].set_index("metric")
    assert (rare["n_train"] == 1).all() and (rare["n_test"] == 4).all()
    assert set(predictions["cell_index"]) == set(range(len(labels)))
    assert summary["value"].notna().all()


def test_untrainable_classes_get_a_constant_probability(caplog):
    X = np.random.default_rng(0).normal(size=(100, 3))
    none, every = np.zeros(100, bool), np.ones(100, bool)
    assert (clf._positive_proba(X, none, X[:5], "x", 0, **TINY) == [[1.0, 0.0]] * 5).all()
    assert (clf._positive_proba(X, every, X[:5], "x", 0, **TINY) == [[0.0, 1.0]] * 5).all()
    # one positive cell among 100: with 40 bags one always misses it, every retry fails
    single = none.copy()
    single[0] = True
    with caplog.at_level("WARNING", logger=clf.__name__):
        proba = clf._positive_proba(X, single, X[:5], "x", 0, n_estimators=40, rf_n_estimators=2)
    assert (proba == [[1.0, 0.0]] * 5).all()
    assert "never predicted" in caplog.text
