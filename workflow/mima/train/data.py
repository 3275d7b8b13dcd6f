"""Minibatches streamed from per-modality matrices (sparse CSR or dense).

A sparse input stays sparse in memory; on the CPU its minibatches stay
sparse too (:class:`~mima.model.sparse.SparseRows`, which the model
multiplies without densifying), and on other devices only the rows of one
minibatch are densified, on the host, before the transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..model.sparse import SparseRows
from ..utils import dense


def as_row_matrix(matrix) -> np.ndarray | sp.csr_matrix:
    """Float32 CSR (for sparse input) or C-contiguous float32 array."""
    if sp.issparse(matrix):
        csr = sp.csr_matrix(matrix, dtype=np.float32)
        csr.sort_indices()
        return csr
    return np.ascontiguousarray(np.asarray(matrix, dtype=np.float32))


@dataclass
class PairedArrays:
    """Aligned per-modality matrices, sample codes and presence masks.

    Parameters
    ----------
    matrices
        ``{modality: (cells × features)}``, CSR or dense.
    batch_codes
        (cells,) integer sample index of each cell.
    present
        ``{modality: (cells,) bool}``; a missing entry means every cell has
        the modality.
    """

    matrices: dict
    batch_codes: np.ndarray
    present: dict | None = None

    def __post_init__(self):
        self.matrices = {m: as_row_matrix(x) for m, x in self.matrices.items()}
        self.batch_codes = np.asarray(self.batch_codes, dtype=np.int64)
        n = self.n_cells
        for m, x in self.matrices.items():
            if x.shape[0] != n:
                raise ValueError(f"modality {m!r} has {x.shape[0]} cells, expected {n}")
        self.present = {
            m: np.ones(n, dtype=bool) if not self.present or m not in self.present else np.asarray(self.present[m], dtype=bool)
            for m in self.matrices
        }

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.batch_codes.shape[0])

    def minibatch(self, rows: np.ndarray, device: torch.device, sparse: bool = True) -> tuple[dict, torch.Tensor, dict]:
        """Tensors of the given rows on ``device``.

        Parameters
        ----------
        rows
            Cell positions (sorted is fastest).
        device
            Where the tensors go.
        sparse
            On the CPU, hand sparse modalities over as
            :class:`~mima.model.sparse.SparseRows`; ``False``, or another
            device, densifies them.

        Returns
        -------
        x, batch_index, present
            Input per modality, (cells,) sample index, float mask per modality.
        """
        sparse = sparse and device.type == "cpu"
        x = {}
        for m, matrix in self.matrices.items():
            block = matrix[rows]
            if sp.issparse(block) and sparse:
                x[m] = SparseRows(block)
                continue
            x[m] = torch.from_numpy(np.ascontiguousarray(dense(block, dtype=None))).to(device, non_blocking=True)
        batch_index = torch.from_numpy(self.batch_codes[rows]).to(device)
        present = {m: torch.from_numpy(mask[rows].astype(np.float32)).to(device) for m, mask in self.present.items()}
        return x, batch_index, present


def minibatch_rows(indices: np.ndarray, batch_size: int, shuffle_seed: tuple[int, ...] | None = None):
    """Yield arrays of row indices, shuffled by ``shuffle_seed`` when given.

    Within a minibatch rows are sorted, which makes CSR row slicing faster
    and changes nothing else (every row of the minibatch is used equally).
    """
    order = np.asarray(indices)
    if shuffle_seed is not None:
        order = np.random.default_rng(list(shuffle_seed)).permutation(order)
    for start in range(0, order.shape[0], batch_size):
        yield np.sort(order[start:start + batch_size])


def train_validation_split(n_cells: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of cell indices into (train, validation), each sorted."""
    order = np.random.default_rng(seed).permutation(n_cells)
    n_validation = int(round(n_cells * validation_fraction))
    if n_validation >= n_cells:
        n_validation = n_cells - 1
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])
