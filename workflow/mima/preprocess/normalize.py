"""Count normalisation and count validation.

Both functions work on dense arrays and on scipy sparse matrices; sparse
input is never densified.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mima.errors import InputError

# Values checked per block in :func:`check_counts`, so that the boolean
# temporaries stay small on matrices with hundreds of millions of entries.
_CHECK_BLOCK = 1 << 22


def log_normalize(counts, target_sum: float = 1e4):
    """Scale every cell to ``target_sum`` total counts, then apply log1p.

    ``out[i, j] = log1p(counts[i, j] * target_sum / sum_j counts[i, j])``.

    Parameters
    ----------
    counts
        Cells x features counts, dense array or scipy sparse matrix. Not
        modified.
    target_sum
        Total every cell is scaled to before the logarithm.

    Returns
    -------
    scipy.sparse CSR matrix or numpy.ndarray, float32
        Sparse input gives CSR output of the same sparse class (matrix or
        array) with the same sparsity pattern; dense input gives an ndarray.
        Cells whose total is zero stay all zero (no division by zero, no NaN).
    """
    if target_sum <= 0:
        raise InputError("log_normalize", "target_sum", f"must be positive, got {target_sum}",
                         "pass a positive target_sum such as 1e4")
    if sp.issparse(counts):
        return _log_normalize_sparse(counts, target_sum)
    return _log_normalize_dense(counts, target_sum)


def _row_scale(totals: np.ndarray, target_sum: float) -> np.ndarray:
    """``target_sum / totals`` with 0 where a row total is 0."""
    scale = np.zeros_like(totals, dtype=np.float64)
    np.divide(target_sum, totals, out=scale, where=totals != 0)
    return scale


def _log_normalize_sparse(counts, target_sum: float):
    csr = counts.tocsr(copy=True)
    # log1p(a) + log1p(b) != log1p(a + b): duplicate entries must be merged first.
    csr.sum_duplicates()
    data = csr.data.astype(np.float64)
    row_nnz = np.diff(csr.indptr)
    scale = _row_scale(_csr_row_sums(data, csr.indptr), target_sum)
    data *= np.repeat(scale, row_nnz)
    np.log1p(data, out=data)
    csr.data = data.astype(np.float32)
    return csr


def _csr_row_sums(data: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Row sums of a CSR matrix in float64, from its ``data`` and ``indptr``."""
    row_nnz = np.diff(indptr)
    totals = np.zeros(row_nnz.size, dtype=np.float64)
    nonempty = row_nnz > 0
    # reduceat over the starts of the non-empty rows only: an empty row would
    # otherwise get the value of the next stored entry instead of 0.
    if nonempty.any():
        totals[nonempty] = np.add.reduceat(data, indptr[:-1][nonempty])
    return totals


def _log_normalize_dense(counts, target_sum: float) -> np.ndarray:
    values = np.asarray(counts, dtype=np.float64)
    if values.ndim != 2:
        raise InputError("log_normalize", "counts", f"expected a 2-D cells x features matrix, got {values.ndim}-D",
                         "pass a cells x features matrix")
    scale = _row_scale(values.sum(axis=1), target_sum)
    return np.log1p(values * scale[:, None]).astype(np.float32)


def check_counts(matrix, source: str, field: str) -> None:
    """Check that a matrix holds counts: finite, non-negative integers.

    Parameters
    ----------
    matrix
        Dense array or scipy sparse matrix. For sparse input only the stored
        values (``.data``) are read, block by block.
    source
        File the matrix came from, for the error message.
    field
        Field the matrix came from (e.g. ``layers['counts']``).

    Raises
    ------
    InputError
        On the first block holding a NaN/inf, a negative or a non-integer
        value; the message shows one offending value.
    """
    values = _stored_values(matrix)
    if values.dtype.kind == "b" or values.dtype.kind == "u":
        return
    if values.dtype.kind not in "if":
        raise InputError(source, field, f"expected numeric counts, got dtype {values.dtype}",
                         "store raw integer counts in this field")
    for start in range(0, values.size, _CHECK_BLOCK):
        _check_block(values[start:start + _CHECK_BLOCK], source, field)


def _stored_values(matrix) -> np.ndarray:
    if sp.issparse(matrix):
        return np.asarray(matrix.data).reshape(-1)
    return np.asarray(matrix).reshape(-1)


def _check_block(block: np.ndarray, source: str, field: str) -> None:
    fix = "store the raw (un-normalised, integer) counts in this field"
    if block.dtype.kind == "f":
        bad = ~np.isfinite(block)
        if bad.any():
            raise InputError(source, field, f"counts contain a non-finite value ({float(block[bad][0]):g})", fix)
    negative = block < 0
    if negative.any():
        raise InputError(source, field, f"counts contain a negative value ({float(block[negative][0]):g})", fix)
    if block.dtype.kind == "f":
        fractional = block != np.floor(block)
        if fractional.any():
            raise InputError(source, field, f"counts contain a non-integer value ({float(block[fractional][0]):g}): "
                             "already normalised?", f"{fix}; or, if the data are already normalised, set this "
                             "modality's preprocess to as_provided (log-normalised) or log1p (normalised, not "
                             "yet logged)")
