"""Cell-type classification from an embedding or a modality's input (DESIGN §4).

One binary one-vs-rest classifier per kept class: imbalanced-learn's
``BalancedBaggingClassifier`` with a ``RandomForestClassifier`` base
estimator, imbalanced-learn (and scikit-learn) defaults otherwise, seeded.
Cells whose label is in ``exclude`` (the config's ``exclude_labels``) are
dropped before anything else: they are neither trained on, tested, scored
nor predicted.

Schemes (:func:`splits`):

- ``loocv``: leave one sample out -- train on all cells of the other samples,
  test on the held-out sample's cells. ``fold`` is the held-out sample's name.
- ``4cv``: the within-sample folds of ``folds.tsv`` -- one pooled classifier
  per fold, trained on every cell not in fold ``k`` and tested on fold ``k``.
  ``fold`` is ``str(k)``.

Metrics (of the positive class of each binary problem, the binary
prediction being "positive probability > negative probability"):
``accuracy``, ``precision``, ``recall``, ``f1``. They are computed only where
the test set holds at least ``min_test_instances`` (3) cells of the class;
otherwise the row is still written, with ``value`` NaN, and every average
ignores it. A precision with no predicted positive is 0.

Tables (long format; the pipeline adds ``dataset, method, embedding`` in
front of each before writing ``classification_loocv.tsv`` /
``classification_4cv.tsv``):

per-class table -- columns ``fold, class, metric, value, n_test, n_train``
    One row per (test fold, kept class, metric). ``n_test`` / ``n_train``:
    cells of the class in the fold's test / training set. ``value`` is NaN
    where ``n_test < min_test_instances``.
summary table -- columns ``fold, class, metric, value, n``
    ``class == 'mean'`` throughout. Rows with a fold name: the mean over the
    fold's scored classes (``n`` = how many classes were scored; NaN if
    none). Rows with ``fold == 'mean'``: the mean of those per-fold means
    over the folds that have one (``n`` = how many folds), i.e. averaged over
    classes, then over folds -- the number the study reports.
predictions table -- columns ``cell_index, fold, true, predicted``
    One row per kept cell (each is tested exactly once in either scheme).
    ``cell_index`` is the cell's position in the inputs as given (before the
    exclusion); ``predicted`` is the kept class with the highest one-vs-rest
    positive probability (ties: the first class in sorted order) -- the
    label of the tissue maps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mima.errors import InputError

log = logging.getLogger(__name__)

SCHEMES = ("loocv", "4cv")
METRICS = ("accuracy", "precision", "recall", "f1")
MEAN = "mean"
PER_CLASS_COLUMNS = ["fold", "class", "metric", "value", "n_test", "n_train"]
SUMMARY_COLUMNS = ["fold", "class", "metric", "value", "n"]
PREDICTION_COLUMNS = ["cell_index", "fold", "true", "predicted"]

#: Extra seeds tried when a bootstrap bag happens to hold no positive cell.
_FIT_ATTEMPTS = 5


def make_classifier(seed: int = 0, n_estimators: int | None = None, rf_n_estimators: int | None = None,
                    n_jobs: int | None = 1):
    """The binary classifier of DESIGN §4.

    Parameters
    ----------
    seed
        ``random_state`` of the bagging ensemble and of the random forest
        (the ensemble re-seeds each bag's forest from its own seed).
    n_estimators
        Number of bags; None keeps imbalanced-learn's default.
    rf_n_estimators
        Number of trees of each random forest; None keeps scikit-learn's
        default.
    n_jobs
        Threads of each random forest (fit and predict). The bags run one
        after the other: bagging in parallel would start processes and
        pickle the training data for every fit, which costs more than the
        small forests themselves (one fit per class and fold). The results
        do not depend on ``n_jobs``: every seed is drawn before any work is
        shared out.

    Returns
    -------
    imblearn.ensemble.BalancedBaggingClassifier
        Unfitted; defaults otherwise.
    """
    from imblearn.ensemble import BalancedBaggingClassifier
    from sklearn.ensemble import RandomForestClassifier

    forest = {"random_state": seed, "n_jobs": n_jobs}
    if rf_n_estimators is not None:
        forest["n_estimators"] = int(rf_n_estimators)
    bagging = {"random_state": seed, "n_jobs": 1}
    if n_estimators is not None:
        bagging["n_estimators"] = int(n_estimators)
    return BalancedBaggingClassifier(estimator=RandomForestClassifier(**forest), **bagging)


def splits(scheme: str, batch: Sequence[str], folds: Sequence[int] | None = None
           ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Train / test splits of a scheme; the classifiers use only these.

    Parameters
    ----------
    scheme
        ``loocv`` (leave one sample out) or ``4cv`` (the given folds).
    batch
        Sample of each cell.
    folds
        Fold of each cell (integers); required for ``4cv``, ignored for
        ``loocv``.

    Returns
    -------
    list of (str, numpy.ndarray, numpy.ndarray)
        ``(fold name, train positions, test positions)`` in sorted fold
        order; positions index the given arrays. LOOCV: one split per
        sample, named after it. 4CV: one split per fold value, named
        ``str(fold)``.

    Raises
    ------
    InputError
        Unknown scheme, missing or misshapen folds, fewer than two samples or
        folds, or a fold named ``mean`` (reserved for the averages).
    """
    batch = np.asarray(batch).astype(str)
    if scheme == "loocv":
        groups = batch
    elif scheme == "4cv":
        if folds is None:
            raise InputError("classification", "folds", "scheme 4cv needs the within-sample folds",
                             "pass the fold column of folds.tsv")
        groups = np.asarray(folds)
        if groups.shape != batch.shape:
            raise InputError("classification", "folds", f"{groups.shape[0] if groups.ndim else 0} folds for "
                             f"{batch.shape[0]} cells", "give one fold per cell, in the cells' order")
        if not np.issubdtype(groups.dtype, np.integer):
            raise InputError("classification", "folds", f"folds must be integers, got {groups.dtype}",
                             "pass the integer fold column of folds.tsv")
    else:
        raise InputError("classification", "scheme", f"unknown scheme {scheme!r}",
                         f"use one of {', '.join(SCHEMES)}")
    names = np.unique(groups)
    if names.size < 2:
        raise InputError("classification", "batch" if scheme == "loocv" else "folds",
                         f"{scheme} needs at least two {'samples' if scheme == 'loocv' else 'folds'}, "
                         f"got {names.size}", "use the other scheme or add data")
    out = []
    for name in names:
        test = groups == name
        label = str(name)
        if label == MEAN:
            raise InputError("classification", "batch", f"a fold is named {MEAN!r}, the name of the averages",
                             "rename that sample")
        out.append((label, np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def binary_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class.

    Parameters
    ----------
    truth, predicted
        Boolean arrays: is the cell of the class / predicted to be.

    Returns
    -------
    dict
        ``{metric: value}`` for :data:`METRICS`; a ratio with a zero
        denominator is 0.
    """
    truth = np.asarray(truth, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    tp = float(np.sum(truth & predicted))
    fp = float(np.sum(~truth & predicted))
    fn = float(np.sum(truth & ~predicted))
    tn = float(np.sum(~truth & ~predicted))

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else 0.0

    return {"accuracy": ratio(tp + tn, tp + tn + fp + fn), "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def _positive_proba(X_train, positive: np.ndarray, X_test, cls: str, seed: int, **classifier) -> np.ndarray:
    """Probabilities ``(P(rest), P(class))`` of the test cells, shape (n, 2).

    A training set with only one of the two outcomes gives that outcome
    probability 1 everywhere (no classifier can be fitted). When a bootstrap
    bag happens to hold no positive cell (rare classes), the fit is retried
    with other seeds; if all fail the class is never predicted.
    """
    n = X_test.shape[0]
    constant = np.zeros((n, 2))
    if positive.all() or not positive.any():
        constant[:, int(positive.any())] = 1.0
        return constant
    y = positive.astype(np.int64)
    for attempt in range(_FIT_ATTEMPTS):
        model = make_classifier(seed=seed if attempt == 0 else (seed + 7919 * attempt) % 2**32, **classifier)
        try:
            model.fit(X_train, y)
        except ValueError as error:
            if "more than 1 class" not in str(error):
                raise
            continue
        proba = np.asarray(model.predict_proba(X_test), dtype=float)
        columns = list(np.asarray(model.classes_))
        return np.column_stack([proba[:, columns.index(0)], proba[:, columns.index(1)]])
    log.warning("class %r: every fit failed (a bootstrap bag without any of its %d training cells); "
                "it is never predicted in this fold", cls, int(positive.sum()))
    constant[:, 0] = 1.0
    return constant


def summarise(per_class: pd.DataFrame) -> pd.DataFrame:
    """Average the per-class table over classes, then over folds.

    Parameters
    ----------
    per_class
        Table with columns :data:`PER_CLASS_COLUMNS` (NaN values are not
        scored and ignored).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`: per fold and metric the class mean
        (``class='mean'``), then per metric the mean of those over folds
        (``fold='mean', class='mean'``). ``n`` counts the values averaged.
    """
    rows = []
    fold_order = list(dict.fromkeys(per_class["fold"]))
    by_fold = {}
    for metric in METRICS:
        for fold in fold_order:
            values = per_class.loc[(per_class["fold"] == fold) & (per_class["metric"] == metric), "value"].dropna()
            value = float(values.mean()) if len(values) else np.nan
            by_fold[fold, metric] = value
            rows.append({"fold": fold, "class": MEAN, "metric": metric, "value": value, "n": int(len(values))})
    for metric in METRICS:
        values = np.array([by_fold[fold, metric] for fold in fold_order], dtype=float)
        values = values[~np.isnan(values)]
        rows.append({"fold": MEAN, "class": MEAN, "metric": metric,
                     "value": float(values.mean()) if values.size else np.nan, "n": int(values.size)})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _as_matrix(X):
    """Rows-sliceable features: CSR if sparse (never densified), else ndarray."""
    if sp.issparse(X):
        return X if X.format == "csr" else sp.csr_matrix(X)
    return np.asarray(X)


def evaluate(X, labels: Sequence[str], batch: Sequence[str], scheme: str, folds: Sequence[int] | None = None,
             exclude: Sequence[str] = (), seed: int = 0, n_estimators: int | None = None,
             rf_n_estimators: int | None = None, n_jobs: int | None = 1, min_test_instances: int = 3
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Classify the cells' labels from ``X`` under one scheme.

    Parameters
    ----------
    X
        Features, cells x features: dense array or scipy sparse (used as CSR,
        never densified).
    labels
        Label of each cell (compared as strings).
    batch
        Sample of each cell (the LOOCV groups).
    scheme
        ``loocv`` or ``4cv`` (see :func:`splits`).
    folds
        Within-sample fold of each cell (integers); required for ``4cv``.
    exclude
        Labels whose cells are dropped before anything else.
    seed
        Seed of every classifier.
    n_estimators, rf_n_estimators
        Bags and trees per forest; None keeps the libraries' defaults
        (smaller values only for tests and the tiny CI run).
    n_jobs
        Threads of each random forest (see :func:`make_classifier`).
    min_test_instances
        A class is scored in a fold only if the fold's test set holds at
        least this many of its cells.

    Returns
    -------
    per_class, summary, predictions : pandas.DataFrame
        See the module docstring.

    Raises
    ------
    InputError
        Misshapen inputs, fewer than two classes left after the exclusion,
        or a bad scheme / folds (see :func:`splits`).
    """
    X = _as_matrix(X)
    labels = np.asarray(labels).astype(str)
    batch = np.asarray(batch).astype(str)
    n = X.shape[0]
    for name, values in (("labels", labels), ("batch", batch)):
        if values.shape != (n,):
            raise InputError("classification", name, f"{values.shape[0] if values.ndim else 0} values for {n} cells",
                             "give one value per row of X, in the same order")
    if folds is not None:
        folds = np.asarray(folds)
        if folds.shape != (n,):
            raise InputError("classification", "folds", f"{folds.shape[0] if folds.ndim else 0} folds for {n} cells",
                             "give one fold per row of X, in the same order")

    kept = np.flatnonzero(~np.isin(labels, np.asarray(list(exclude), dtype=str)))
    classes = sorted(set(labels[kept]))
    if len(classes) < 2:
        raise InputError("classification", "labels", f"{len(classes)} class(es) left after excluding "
                         f"{list(exclude)}", "keep at least two labels (check exclude_labels)")
    X_kept = X[kept]
    y = labels[kept]
    classifier = {"n_estimators": n_estimators, "rf_n_estimators": rf_n_estimators, "n_jobs": n_jobs}

    rows, predictions, unscored = [], [], {}
    fold_splits = splits(scheme, batch[kept], None if folds is None else folds[kept])
    for done, (fold, train, test) in enumerate(fold_splits):
        started = time.perf_counter()
        X_train, X_test = X_kept[train], X_kept[test]
        proba = np.empty((test.size, len(classes)))
        for j, cls in enumerate(classes):
            positive_train = y[train] == cls
            pair = _positive_proba(X_train, positive_train, X_test, cls, seed, **classifier)
            proba[:, j] = pair[:, 1]
            truth = y[test] == cls
            n_test = int(truth.sum())
            scores = (binary_metrics(truth, pair[:, 1] > pair[:, 0]) if n_test >= min_test_instances
                      else dict.fromkeys(METRICS, np.nan))
            if n_test < min_test_instances:
                unscored.setdefault(cls, []).append(fold)
            for metric in METRICS:
                rows.append({"fold": fold, "class": cls, "metric": metric, "value": scores[metric],
                             "n_test": n_test, "n_train": int(positive_train.sum())})
        predicted = np.asarray(classes)[np.argmax(proba, axis=1)]
        log.info("%s fold %s (%d of %d): %d classes, %d training and %d test cells, in %.1f s", scheme, fold,
                 done + 1, len(fold_splits), len(classes), train.size, test.size, time.perf_counter() - started)
        predictions.append(pd.DataFrame({"cell_index": kept[test], "fold": fold, "true": y[test],
                                         "predicted": predicted}))

    for cls, where in unscored.items():
        log.info("notice: %s: class %r is not scored in %d of %d folds (%s): fewer than %d of its cells in the "
                 "test set (DESIGN: metrics need >= %d instances); its rows hold NaN and the averages leave it out",
                 scheme, str(cls), len(where), len(set(r["fold"] for r in rows)), ", ".join(map(str, where[:5])),
                 min_test_instances, min_test_instances)
    per_class = pd.DataFrame(rows, columns=PER_CLASS_COLUMNS)
    predictions = pd.concat(predictions, ignore_index=True)[PREDICTION_COLUMNS]
    return per_class, summarise(per_class), predictions
