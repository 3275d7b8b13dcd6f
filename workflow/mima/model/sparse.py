"""Sparse minibatches and the products the model takes of them.

A sparse modality (RNA at ~8 % non-zeros, ATAC bins at ~3 %) enters the
model only through products with a weight matrix that has one row per
feature: the encoder's first layer (x W) and, in the loss, the
reconstruction's cross term (x W_out, see :mod:`mima.model.loss`). Both cost
``nnz x width`` multiply-adds on a CSR minibatch instead of
``cells x features x width`` on a densified one.

On the CPU the forward product is ``torch.nn.functional.embedding_bag``
(sum mode, per-sample weights = the values), and the weight gradient
``xᵀ g`` a CSR (int32, MKL) by dense product; torch's own CSR-by-dense
kernel is several times slower than either here. Other devices receive
dense minibatches (see :meth:`mima.train.data.PairedArrays.minibatch`).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F


class SparseRows:
    """A minibatch of CSR rows (cells x features) held as torch tensors.

    Parameters
    ----------
    block
        The rows, a SciPy CSR matrix. Its arrays are shared, not copied
        (after a cast to float32 values and int32 indices where needed).

    Attributes
    ----------
    indptr, indices, values
        The CSR arrays as CPU tensors (int32, int32, float32).
    shape
        (cells, features).
    """

    def __init__(self, block: sp.csr_matrix):
        block = sp.csr_matrix(block)
        self._block = block
        self.shape = tuple(block.shape)
        self.indptr = torch.from_numpy(np.asarray(block.indptr, dtype=np.int32))
        self.indices = torch.from_numpy(np.asarray(block.indices, dtype=np.int32))
        self.values = torch.from_numpy(np.asarray(block.data, dtype=np.float32))
        self._transposed = None
        self._squared_norm = None

    @property
    def device(self) -> torch.device:
        """Always the CPU."""
        return self.values.device

    @property
    def dtype(self) -> torch.dtype:
        """float32."""
        return self.values.dtype

    @property
    def nnz(self) -> int:
        """Number of stored values."""
        return int(self.values.shape[0])

    def transposed(self) -> torch.Tensor:
        """xᵀ (features x cells) as a torch CSR tensor, built once."""
        if self._transposed is None:
            csc = self._block.tocsc()
            with warnings.catch_warnings():  # "sparse CSR support is in beta state"
                warnings.simplefilter("ignore", UserWarning)
                self._transposed = torch.sparse_csr_tensor(
                    # int32: torch's MKL kernel; int64 indices take a far slower path
                    torch.from_numpy(np.asarray(csc.indptr, dtype=np.int32)),
                    torch.from_numpy(np.asarray(csc.indices, dtype=np.int32)),
                    torch.from_numpy(np.asarray(csc.data, dtype=np.float32)),
                    (self.shape[1], self.shape[0]), check_invariants=False,
                )
        return self._transposed

    def squared_norm(self) -> torch.Tensor:
        """(cells,) Σ_f x_f² of each row."""
        if self._squared_norm is None:
            squares = self._block.multiply(self._block).sum(axis=1)
            self._squared_norm = torch.from_numpy(np.asarray(squares, dtype=np.float32).ravel())
        return self._squared_norm

    def to_dense(self) -> torch.Tensor:
        """The rows as a dense (cells x features) tensor."""
        return torch.from_numpy(self._block.toarray())


class _SparseMatmul(torch.autograd.Function):
    """x W for sparse rows x and a dense (features x k) W; gradient into W only."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, x: SparseRows) -> torch.Tensor:
        ctx.x = x
        return F.embedding_bag(x.indices, weight, x.indptr, mode="sum",
                               per_sample_weights=x.values, include_last_offset=True)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        transposed = ctx.x.transposed()
        # in place into zeros: torch.mm would compute into a scratch tensor and copy it
        grad_weight = grad.new_zeros(transposed.shape[0], grad.shape[1])
        return grad_weight.addmm_(transposed, grad.contiguous()), None


def matmul(x: torch.Tensor | SparseRows, weight: torch.Tensor) -> torch.Tensor:
    """x W for dense or sparse rows x and a (features x k) weight.

    Parameters
    ----------
    x
        (cells x features), a dense tensor or :class:`SparseRows`.
    weight
        (features x k) or (features,).

    Returns
    -------
    torch.Tensor
        (cells x k), or (cells,) for a 1-d ``weight``.
    """
    if not isinstance(x, SparseRows):
        return x @ weight
    if weight.dim() == 1:
        return _SparseMatmul.apply(weight.unsqueeze(1), x).squeeze(1)
    return _SparseMatmul.apply(weight, x)


def squared_norm(x: torch.Tensor | SparseRows) -> torch.Tensor:
    """(cells,) Σ_f x_f² of dense or sparse rows."""
    return x.squared_norm() if isinstance(x, SparseRows) else x.pow(2).sum(-1)


def dense(x: torch.Tensor | SparseRows) -> torch.Tensor:
    """``x`` as a dense tensor (a dense one is returned as is)."""
    return x.to_dense() if isinstance(x, SparseRows) else x
