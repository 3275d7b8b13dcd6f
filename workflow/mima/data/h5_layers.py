"""Large dense layers of an ``.h5mu``, written and read a chunk of cells at
a time.

A file is written in two steps (:func:`write_h5mu_in_chunks`): mudata
writes the small part (a MuData *skeleton*: cells, features, ``obs``,
``uns``, no matrices), then every big matrix is created as a chunked HDF5
dataset in anndata's on-disk encoding of a dense array (attributes
``encoding-type = "array"``, ``encoding-version = "0.2.0"``) at
``/mod/<modality>/layers/<name>`` (``X`` at ``/mod/<modality>/X``) and
filled row block by row block. ``mudata.read_h5mu`` reads the result like any
other file; :func:`read_rows` / :class:`LayerRows` read rows (and columns) of
one matrix without loading the others. Everything happens in a hidden
temporary file renamed into place when complete (as in
:mod:`mima.data.atomic_write`).

HDF5 chunks (:func:`chunk_shape`) are about 1 MiB: a block of whole rows,
the columns split into equal parts of at most 8,192. Writes and reads of
row blocks touch only the chunks of those rows, and a read of a few
columns touches only their column parts. No compression: float32 decoder
outputs have full-entropy mantissas, so gzip saves ~8 % and lzf ~1 %
while both slow writes 8-30 fold
(``benchmarks/mima_outputs_memory.py --compression``). A file's size is
therefore cells × Σ(features × layers) × 4 bytes, plus the skeleton.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

#: anndata's encoding of a dense array (anndata.io.write_elem writes the same)
ARRAY_ENCODING = {"encoding-type": "array", "encoding-version": "0.2.0"}
DICT_ENCODING = {"encoding-type": "dict", "encoding-version": "0.1.0"}
#: target bytes of one HDF5 chunk
CHUNK_BYTES = 1 << 20
#: widest column part of one HDF5 chunk
MAX_CHUNK_COLUMNS = 8192


def chunk_shape(n_rows: int, n_cols: int, itemsize: int = 4, target_bytes: int = CHUNK_BYTES) -> tuple[int, int]:
    """HDF5 chunk shape of a cells × features matrix: ~``target_bytes``,
    whole rows, columns in equal parts of at most :data:`MAX_CHUNK_COLUMNS`
    (equal parts waste no space on a partial last column chunk).

    Returns
    -------
    tuple of int
        ``(rows, columns)``, each at least 1 and at most the matrix's.
    """
    n_parts = max(1, math.ceil(n_cols / MAX_CHUNK_COLUMNS))
    cols = max(1, math.ceil(n_cols / n_parts))
    rows = max(1, min(max(n_rows, 1), target_bytes // (cols * itemsize)))
    return rows, cols


def rows_per_block(bytes_per_row: int, budget_bytes: int, multiple: int = 1) -> int:
    """Rows of a block that holds ``bytes_per_row`` per row within
    ``budget_bytes``, rounded down to a multiple of ``multiple`` (at least
    ``multiple``)."""
    rows = max(1, int(budget_bytes // max(1, bytes_per_row)))
    return max(multiple, rows - rows % multiple)


def element_path(modality: str, name: str) -> str:
    """Path of a matrix in an ``.h5mu``: ``X`` or a layer of a modality."""
    return f"mod/{modality}/X" if name == "X" else f"mod/{modality}/layers/{name}"


def create_dense(file, path: str, shape: tuple[int, int], dtype=np.float32):
    """Create an empty chunked dense array at ``path`` of an open h5py file,
    encoded as anndata encodes dense arrays (replacing what was there)."""
    parent, _, name = path.rpartition("/")
    group = file.require_group(parent)
    if parent.endswith("/layers") and "encoding-type" not in group.attrs:
        group.attrs.update(DICT_ENCODING)
    if name in group:
        del group[name]
    dataset = group.create_dataset(name, shape=shape, dtype=dtype,
                                   chunks=chunk_shape(*shape, np.dtype(dtype).itemsize) if all(shape) else None)
    dataset.attrs.update(ARRAY_ENCODING)
    return dataset


def write_h5mu_in_chunks(skeleton, path: str | os.PathLike, matrices: dict[str, dict[str, int]],
                         blocks: Iterable[tuple[int, int, dict[str, dict[str, np.ndarray]]]],
                         n_rows: int | None = None) -> Path:
    """Write ``skeleton`` and then its big matrices, block of rows by block
    of rows, atomically.

    Parameters
    ----------
    skeleton
        MuData holding everything but the big matrices (its modalities'
        ``X`` may be ``None``).
    path
        Destination ``.h5mu``.
    matrices
        ``{modality: {name: n_columns}}``; ``name`` is ``X`` or a layer.
    blocks
        Yields ``(start, stop, {modality: {name: rows start:stop}})``,
        covering every row (each matrix's block: stop - start rows, float32).
    n_rows
        Rows of every matrix (default: ``skeleton.n_obs``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import h5py

    from .atomic_write import write_h5mu_atomic

    path = Path(path)
    n_rows = skeleton.n_obs if n_rows is None else n_rows

    def fill(tmp):
        with h5py.File(tmp, "a") as file:
            datasets = {(m, name): create_dense(file, element_path(m, name), (n_rows, n_cols))
                        for m, names in matrices.items() for name, n_cols in names.items()}
            written = 0
            for start, stop, values in blocks:
                if start != written:
                    raise ValueError(f"blocks must cover the rows in order: got {start}:{stop} after {written}")
                for (m, name), dataset in datasets.items():
                    block = values[m][name]
                    if block.shape != (stop - start, dataset.shape[1]):
                        expected = (stop - start, dataset.shape[1])
                        raise ValueError(f"{m}/{name}: block {block.shape}, expected {expected}")
                    if stop > start and dataset.shape[1]:
                        dataset[start:stop] = block
                written = stop
            if written != n_rows:
                raise ValueError(f"blocks covered {written} of {n_rows} rows")

    write_h5mu_atomic(skeleton, path, then=fill)
    return path


class LayerRows:
    """One dense matrix of an ``.h5mu`` on disk, read by blocks of rows.

    Parameters
    ----------
    path
        The ``.h5mu``.
    modality, name
        The matrix (``X`` or a layer name).
    """

    def __init__(self, path: str | os.PathLike, modality: str, name: str):
        import h5py

        self.path, self.modality, self.name = str(path), modality, name
        with h5py.File(self.path, "r") as file:
            dataset = file[element_path(modality, name)]
            self.shape = tuple(dataset.shape)
            self.dtype = dataset.dtype

    def __repr__(self) -> str:
        return f"LayerRows({self.path!r}, {self.modality!r}, {self.name!r}, shape={self.shape})"

    def blocks(self, block_rows: int, columns: Sequence[int] | np.ndarray | None = None):
        """Yield ``(start, stop, rows start:stop)`` over every row.

        Parameters
        ----------
        block_rows
            Rows per block.
        columns
            Column positions to read (any order; default all).
        """
        yield from read_rows(self.path, self.modality, self.name, block_rows, columns)

    def read(self, columns=None) -> np.ndarray:
        """Every row (only ``columns``): the whole matrix in memory."""
        parts = [block for _, _, block in self.blocks(max(1, self.shape[0]), columns)]
        width = self.shape[1] if columns is None else len(columns)
        return np.concatenate(parts) if parts else np.zeros((0, width), dtype=self.dtype)


def read_rows(path: str | os.PathLike, modality: str, name: str, block_rows: int,
              columns: Sequence[int] | np.ndarray | None = None, transform: Callable | None = None):
    """Yield ``(start, stop, block)`` over the rows of one dense matrix of an
    ``.h5mu``, keeping only ``columns`` (positions, any order, repeats
    allowed) when given.

    Whole rows are read (``block_rows`` × all columns are in memory at
    once) and ``transform`` (if given) is applied to each block.
    """
    import h5py

    with h5py.File(path, "r") as file:
        dataset = file[element_path(modality, name)]
        n_rows = dataset.shape[0]
        columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        for start in range(0, n_rows, max(1, int(block_rows))):
            stop = min(start + int(block_rows), n_rows)
            # whole rows, then the columns in memory: a chunk spans up to 8,192
            # columns, so a column selection would read the same chunks
            block = dataset[start:stop] if dataset.shape[1] else np.zeros((stop - start, 0), dataset.dtype)
            if columns is not None:
                block = block[:, columns]
            yield start, stop, (transform(block) if transform else block)
