"""The translation tables computed a block of cells at a time
(:func:`mima.evaluate.translation_tables.translation_tables` on files).

Nothing of size cells × features is ever held: the true values are read a
block of rows at a time from the prepared dataset (only the evaluation
features kept), the predictions a block at a time from each fold's
held-out file; per-label feature sums (labels × features) give the
centroids; the kNN baseline of a block gathers only its neighbours' rows;
per-feature agreement (:class:`FeatureAgreement`) is accumulated in
float64 over the blocks. Held in full are only the per-cell MSE table and
the kNN search's low-dimensional source representation.

The numbers equal the in-memory computation
(:mod:`mima.evaluate.translation`): per-cell MSEs and the kNN baseline
exactly (the same operations on the same rows, in the same order), the
centroids and per-feature statistics to float64 rounding (sums over blocks
associate differently; the pooled moments are merged as in Chan, Golub &
LeVeque 1979, so no cancellation-prone raw moments are formed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..utils import dense
from .translation import CORRELATION_COLUMNS, _label_codes


class FeatureAgreement:
    """Per-feature agreement between true and predicted values, accumulated
    over blocks of cells (the streaming form of
    :func:`mima.evaluate.translation.feature_correlations`).

    Parameters
    ----------
    n_features
        Features (columns) of every block.
    """

    def __init__(self, n_features: int):
        d = int(n_features)
        self.n = 0
        self.mean_true, self.mean_pred = np.zeros(d), np.zeros(d)
        self.ss_true, self.ss_pred, self.cross, self.ss_res = np.zeros(d), np.zeros(d), np.zeros(d), np.zeros(d)
        self.min_true, self.max_true = np.full(d, np.inf), np.full(d, -np.inf)
        self.min_pred, self.max_pred = np.full(d, np.inf), np.full(d, -np.inf)

    #: the per-feature arrays of the state (with ``n``, all of it)
    STATE = ("mean_true", "mean_pred", "ss_true", "ss_pred", "cross", "ss_res",
             "min_true", "max_true", "min_pred", "max_pred")

    def update(self, true, predicted) -> None:
        """Add a block of cells (cells × features, dense or sparse)."""
        t, p = dense(true, np.float64), dense(predicted, np.float64)
        if t.shape != p.shape or t.shape[1:] != self.mean_true.shape:
            raise ValueError(f"true {t.shape} and predicted {p.shape} must both be cells × {self.mean_true.size}")
        if t.shape[0] == 0:
            return
        block = FeatureAgreement(t.shape[1])
        block.n = t.shape[0]
        block.mean_true, block.mean_pred = t.mean(axis=0), p.mean(axis=0)
        tc, pc = t - block.mean_true, p - block.mean_pred
        block.ss_true, block.ss_pred, block.cross = (tc ** 2).sum(axis=0), (pc ** 2).sum(axis=0), (tc * pc).sum(axis=0)
        block.ss_res = ((t - p) ** 2).sum(axis=0)
        block.min_true, block.max_true = t.min(axis=0), t.max(axis=0)
        block.min_pred, block.max_pred = p.min(axis=0), p.max(axis=0)
        self.merge(block)

    def merge(self, other: "FeatureAgreement") -> None:
        """Add the cells another accumulator has seen (Chan, Golub & LeVeque's
        pairwise update: no raw moments, no cancellation)."""
        if other.mean_true.shape != self.mean_true.shape:
            raise ValueError(f"cannot merge agreement over {other.mean_true.size} features into "
                             f"{self.mean_true.size}")
        nb = other.n
        if nb == 0:
            return
        n = self.n + nb
        delta_t, delta_p = other.mean_true - self.mean_true, other.mean_pred - self.mean_pred
        weight = self.n * nb / n
        self.ss_true += other.ss_true + delta_t ** 2 * weight
        self.ss_pred += other.ss_pred + delta_p ** 2 * weight
        self.cross += other.cross + delta_t * delta_p * weight
        self.ss_res += other.ss_res
        self.mean_true += delta_t * (nb / n)
        self.mean_pred += delta_p * (nb / n)
        np.minimum(self.min_true, other.min_true, out=self.min_true)
        np.maximum(self.max_true, other.max_true, out=self.max_true)
        np.minimum(self.min_pred, other.min_pred, out=self.min_pred)
        np.maximum(self.max_pred, other.max_pred, out=self.max_pred)
        self.n = n

    def columns(self, suffix: str = "") -> dict[str, np.ndarray]:
        """The per-feature state as ``{<array><suffix>: values}`` (a table's
        columns, one row per feature); ``n`` is the number of cells seen."""
        return {f"{name}{suffix}": getattr(self, name).copy() for name in self.STATE}

    @classmethod
    def from_columns(cls, table, n: int, suffix: str = "") -> "FeatureAgreement":
        """The accumulator whose :meth:`columns` (with ``suffix``) ``table``
        holds, having seen ``n`` cells."""
        state = {name: np.asarray(table[f"{name}{suffix}"], dtype=np.float64) for name in cls.STATE}
        agreement = cls(state["mean_true"].size)
        for name, values in state.items():
            setattr(agreement, name, values.copy())
        agreement.n = int(n)
        return agreement

    def result(self, features=None) -> pd.DataFrame:
        """Columns ``feature, pearson_r, r2, r2_score`` (as
        :func:`~mima.evaluate.translation.feature_correlations`)."""
        d = self.mean_true.size
        features = np.arange(d) if features is None else np.asarray(features)
        r, score = np.full(d, np.nan), np.full(d, np.nan)
        if self.n >= 2:
            true_varies = self.max_true > self.min_true  # exact constancy, as in the in-memory version
            ok = true_varies & (self.max_pred > self.min_pred)
            r[ok] = np.clip(self.cross[ok] / np.sqrt(self.ss_true[ok] * self.ss_pred[ok]), -1.0, 1.0)
            score[true_varies] = 1.0 - self.ss_res[true_varies] / self.ss_true[true_varies]
        return pd.DataFrame({"feature": features, "pearson_r": r, "r2": r ** 2, "r2_score": score},
                            columns=CORRELATION_COLUMNS)


class LabelSums:
    """Per-label feature sums and counts of every cell (the leave-one-out
    centroids of :func:`mima.evaluate.translation.centroid_predictions`),
    accumulated over blocks of cells.

    Parameters
    ----------
    labels
        Annotation of every cell.
    n_features
        Features of every block.
    missing
        Label values treated as no label.
    """

    def __init__(self, labels, n_features: int, missing=()):
        self.codes = _label_codes(labels, len(labels), missing)
        n_labels = int(self.codes.max()) + 1 if self.codes.size else 0
        self.sums = np.zeros((n_labels, int(n_features)))
        self.counts = np.bincount(self.codes[self.codes >= 0], minlength=n_labels).astype(float)

    def update(self, rows: np.ndarray, values) -> None:
        """Add the cells ``rows`` (positions) with their ``values``."""
        codes = self.codes[rows]
        for code in np.unique(codes[codes >= 0]):
            self.sums[code] += np.asarray(values[codes == code].sum(axis=0, dtype=np.float64)).ravel()

    def centroids(self, rows: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Same- and different-annotation centroids of the cells ``rows``
        whose values are ``own`` (float64; NaN rows where none exists)."""
        total, n_total = self.sums.sum(axis=0), self.counts.sum()
        code = self.codes[rows]
        same = np.full(own.shape, np.nan)
        different = np.full(own.shape, np.nan)
        labelled = np.flatnonzero(code >= 0)
        c = code[labelled]
        n_same = self.counts[c] - 1
        ok = n_same > 0
        same[labelled[ok]] = (self.sums[c[ok]] - own[labelled[ok]]) / n_same[ok, None]
        n_diff = n_total - self.counts[c]
        ok = n_diff > 0
        different[labelled[ok]] = (total - self.sums[c[ok]]) / n_diff[ok, None]
        return same, different


def knn_block(neighbours: np.ndarray, read_rows) -> np.ndarray:
    """kNN-baseline predictions of a block of held-out cells: the mean of
    each cell's neighbours' values, summed in neighbour order as
    :func:`mima.evaluate.translation.knn_regression_baseline` sums them.

    Parameters
    ----------
    neighbours
        Block × k dataset positions of each cell's neighbours.
    read_rows
        ``read_rows(increasing positions)`` → their values (float32).
    """
    n_block, k = neighbours.shape
    if n_block == 0:
        return np.zeros((0, 0))
    unique, inverse = np.unique(neighbours.ravel(), return_inverse=True)
    weights = sp.csr_matrix((np.full(neighbours.size, 1.0 / k), inverse.ravel(), np.arange(0, neighbours.size + 1, k)),
                            shape=(n_block, unique.size))
    return dense(weights @ np.asarray(read_rows(unique), dtype=np.float64), np.float64)
