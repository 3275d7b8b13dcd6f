"""Classification of one input of one dataset with both schemes, as long
tables (DESIGN §2, §4).

``classification/<input>.tsv`` — columns ``dataset, method, embedding,
scheme, fold, class, metric, value, n_test, n_train, status, reason``:
per class per fold, then the class means per fold (``class = mean``) and
their mean over folds (``fold = mean, class = mean``). ``method`` is
``input`` with ``embedding`` the modality for a modality's full input, else
the method and embedding classified. ``tables/classification_loocv.tsv``
and ``tables/classification_4cv.tsv`` gather every input by scheme.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..status import STATUS_COLUMNS, row_status
from .classification import evaluate

log = logging.getLogger(__name__)

COLUMNS = ["dataset", "method", "embedding", "scheme", "fold", "class", "metric", "value", "n_test", "n_train",
           *STATUS_COLUMNS]


def classify_input(dataset: str, method: str, embedding: str, X, labels, batch, folds, exclude=(), seed: int = 0,
                   **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LOOCV over samples and within-sample 4CV of one input.

    LOOCV is skipped (logged) for a dataset with a single sample.

    Returns
    -------
    rows, predictions
        The long table of both schemes, and per-cell 4CV / LOOCV predictions
        (``scheme, cell_index, fold, true, predicted``).
    """
    rows, predictions = [], []
    schemes = ["loocv", "4cv"]
    if len(set(batch)) < 2:
        log.warning("%s: one sample only, LOOCV skipped", dataset)
        schemes = ["4cv"]
    for scheme in schemes:
        per_class, summary, predicted = evaluate(X, labels, batch, scheme, folds=folds, exclude=exclude, seed=seed, **options)
        summary = summary.rename(columns={"n": "n_test"})
        rows += [per_class.assign(scheme=scheme), summary.assign(scheme=scheme)]
        predictions.append(predicted.assign(scheme=scheme))
    table = pd.concat(rows, ignore_index=True).assign(dataset=dataset, method=method, embedding=embedding,
                                                      **row_status())
    return table.reindex(columns=COLUMNS), pd.concat(predictions, ignore_index=True)


def failed_rows(dataset: str, method: str, embedding: str, reason: str) -> pd.DataFrame:
    """The rows that stand for an input whose method failed."""
    return pd.DataFrame([{"dataset": dataset, "method": method, "embedding": embedding, "scheme": scheme,
                          "fold": "mean", "class": "mean", "metric": "", "value": np.nan,
                          **row_status(reason)} for scheme in ("loocv", "4cv")], columns=COLUMNS)
