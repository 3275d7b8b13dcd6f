"""Within-sample folds (DESIGN §2): the same folds serve classification
4CV and translation 4CV."""

from __future__ import annotations

import numpy as np
import pandas as pd


def within_sample_folds(batch: pd.Series, n_folds: int = 4, seed: int = 0) -> pd.DataFrame:
    """Assign every cell a fold, balanced within each sample.

    Each sample's cells are shuffled (seeded by ``seed`` and the sample's
    position) and dealt into ``n_folds`` folds in turn, so every fold holds
    about a ``1 / n_folds`` share of every sample.

    Parameters
    ----------
    batch
        Sample of each cell, indexed by cell name.
    n_folds
        Number of folds.
    seed
        Seed of the shuffling.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell``, ``batch``, ``fold`` (0 .. n_folds-1), one row per
        cell in the input order.
    """
    values = batch.astype(str).to_numpy()
    folds = np.empty(len(values), dtype=np.int64)
    for position, sample in enumerate(sorted(set(values))):
        cells = np.flatnonzero(values == sample)
        order = np.random.default_rng([seed, position]).permutation(cells)
        folds[order] = np.arange(order.size) % n_folds
    return pd.DataFrame({"cell": batch.index.astype(str), "batch": values, "fold": folds})
