"""Rows of an ``.h5mu`` read from disk on demand, without loading its
matrices: the cells, features and annotations of every modality, and any
rows of one modality's ``X`` (sparse CSR/CSC or dense) or layer.

The big matrices of a prepared dataset (``X``, ``layers['counts']``) stay
on disk; a block of rows costs memory in proportion to the block only.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _runs(positions: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of consecutive positions, as ``(start, stop)``."""
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [positions.size]])
    return [(int(positions[a]), int(positions[b - 1]) + 1) for a, b in zip(starts, stops, strict=True)]


class H5muRows:
    """An ``.h5mu`` opened read-only; matrices are read a block of rows at a time.

    Use as a context manager (or call :meth:`close`).

    Attributes
    ----------
    obs
        Global ``obs`` (a DataFrame).
    uns
        Global ``uns`` (a dict).
    mod
        Modality names, in the file's order.
    """

    def __init__(self, path: str | os.PathLike):
        import h5py
        from anndata.io import read_elem

        self.path = str(path)
        self.file = h5py.File(self.path, "r")
        self._read_elem = read_elem
        self.obs = read_elem(self.file["obs"])
        self.uns = read_elem(self.file["uns"]) if "uns" in self.file else {}
        mods = self.file["mod"]
        order = mods.attrs.get("mod-order")
        self.mod = [str(m) for m in order] if order is not None else list(mods)
        self._var: dict[str, pd.DataFrame] = {}
        self._obs: dict[str, pd.DataFrame] = {}

    def __enter__(self) -> "H5muRows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self.file.close()

    @property
    def obs_names(self) -> pd.Index:
        """Global cell names."""
        return self.obs.index

    @property
    def n_obs(self) -> int:
        """Number of cells."""
        return len(self.obs)

    def mod_obs(self, m: str) -> pd.DataFrame:
        """``obs`` of modality ``m``."""
        if m not in self._obs:
            self._obs[m] = self._read_elem(self.file[f"mod/{m}/obs"])
        return self._obs[m]

    def var(self, m: str) -> pd.DataFrame:
        """``var`` of modality ``m``."""
        if m not in self._var:
            self._var[m] = self._read_elem(self.file[f"mod/{m}/var"])
        return self._var[m]

    def element(self, m: str, name: str = "X"):
        """The on-disk matrix (``X`` or a layer): an anndata sparse dataset
        or an h5py dataset."""
        from anndata.io import sparse_dataset

        path = f"mod/{m}/X" if name == "X" else f"mod/{m}/layers/{name}"
        if path not in self.file:
            raise KeyError(f"{self.path}: no {path}")
        element = self.file[path]
        encoding = element.attrs.get("encoding-type", "")
        if encoding in ("csr_matrix", "csc_matrix"):
            return sparse_dataset(element)
        return element

    def shape(self, m: str, name: str = "X") -> tuple[int, int]:
        """Shape of a matrix."""
        return tuple(self.element(m, name).shape)

    def rows(self, m: str, positions, name: str = "X"):
        """Rows ``positions`` (increasing) of a matrix: CSR for a sparse
        matrix, else a numpy array; the matrix's own dtype."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size > 1 and np.any(np.diff(positions) <= 0):
            raise ValueError("positions must be strictly increasing")
        element = self.element(m, name)
        runs = _runs(positions)
        if len(runs) == 1:
            block = element[runs[0][0]:runs[0][1]]
        elif not runs:
            block = element[0:0]
        elif hasattr(element, "format"):  # sparse dataset: fancy row indexing reads only those rows
            block = element[positions]
        else:
            block = np.concatenate([element[a:b] for a, b in runs])
        if sp.issparse(block):
            return sp.csr_matrix(block)
        return np.asarray(block)
