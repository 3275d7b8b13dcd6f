"""Within-sample folds (DESIGN §2): the same folds serve classification
4CV and translation 4CV.

``results/{dataset}/folds.tsv`` (columns ``cell``, ``batch``, ``fold``) is
written by :func:`within_sample_folds` and read back only through
:func:`read_folds`; :func:`cell_folds` and :func:`fold_masks` select from it.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import InputError

#: Columns :func:`read_folds` requires.
FOLD_COLUMNS = ("cell", "fold")
_REBUILD = "delete the file and rerun snakemake (rule folds) to rebuild it"


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


def read_folds(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``folds.tsv`` written by :func:`within_sample_folds`.

    Parameters
    ----------
    path
        The tab-separated folds file.

    Returns
    -------
    pandas.DataFrame
        The file's columns (at least ``cell`` as strings, ``fold`` as
        integers), one row per cell; ``attrs['source']`` is ``path``.

    Raises
    ------
    InputError
        The file is empty, lacks a column of :data:`FOLD_COLUMNS`, has a
        non-integer fold or names a cell twice (one line naming the file and
        the column).
    """
    source = str(path)
    try:
        folds = pd.read_csv(path, sep="\t", dtype={"cell": str}, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(source, "header", "the file is empty", _REBUILD) from None
    missing = [column for column in FOLD_COLUMNS if column not in folds.columns]
    if missing:
        raise InputError(source, missing[0], f"column missing (columns: {', '.join(map(str, folds.columns))})",
                         _REBUILD)
    if not pd.api.types.is_integer_dtype(folds["fold"]):
        raise InputError(source, "fold", f"folds must be integers, got {folds['fold'].dtype}", _REBUILD)
    duplicated = folds["cell"][folds["cell"].duplicated()]
    if len(duplicated):
        raise InputError(source, "cell", f"cells {duplicated[:3].tolist()} appear more than once", _REBUILD)
    folds.attrs["source"] = source
    return folds


def cell_folds(folds: pd.DataFrame, cells: pd.Index) -> np.ndarray:
    """The fold of each of ``cells``.

    Parameters
    ----------
    folds
        :func:`read_folds`' table (columns ``cell``, ``fold``).
    cells
        Cell names, e.g. a dataset's ``obs_names``.

    Returns
    -------
    numpy.ndarray
        Integer fold per cell, in the order of ``cells``.

    Raises
    ------
    InputError
        A cell has no fold (the folds were built for other cells).
    """
    assigned = folds.set_index("cell")["fold"].reindex(pd.Index(cells).astype(str))
    if assigned.isna().any():
        missing = assigned.index[assigned.isna()][:3].tolist()
        raise InputError(folds.attrs.get("source", "folds.tsv"), "cell", f"cells {missing} have no fold", _REBUILD)
    return assigned.to_numpy()


def fold_masks(folds: pd.DataFrame, cells: pd.Index, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (train, held-out) masks over ``cells`` for one fold.

    Parameters
    ----------
    folds
        :func:`read_folds`' table (columns ``cell``, ``fold``).
    cells
        Cell names, e.g. a dataset's ``obs_names``.
    fold
        The held-out fold.

    Returns
    -------
    train_mask, heldout_mask : numpy.ndarray
        ``heldout_mask`` selects the cells of ``fold``, ``train_mask`` all
        the others.

    Raises
    ------
    InputError
        A cell has no fold (see :func:`cell_folds`).
    """
    heldout = cell_folds(folds, cells) == fold
    return ~heldout, heldout
