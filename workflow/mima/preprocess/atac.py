"""ATAC peaks: parsing peak names and summing peaks into fixed-size genome bins."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mima.errors import InputError

_PEAK_PATTERN = r"^(?P<chrom>[^:\s]+?)[-:](?P<start>\d+)-(?P<end>\d+)$"
_EXPECTED_FORMAT = "expected 'chrN-start-end' or 'chrN:start-end' (e.g. chr1-9999-10500)"


def parse_peak_names(names: Sequence[str], source: str = "<data>") -> pd.DataFrame:
    """Parse peak names into chromosome, start and end.

    Parameters
    ----------
    names
        Peak names in either ``chrN-start-end`` or ``chrN:start-end``
        notation (both may be mixed). The chromosome part is any text
        without ``:`` or whitespace, so contigs such as ``GL000205.2`` work.
    source
        File the names came from, for the error message.

    Returns
    -------
    pandas.DataFrame
        Columns ``chrom`` (str), ``start`` and ``end`` (int64), one row per
        name in input order, indexed by the names.

    Raises
    ------
    InputError
        Naming the first name that does not parse, or the first with
        ``start > end``.
    """
    index = pd.Index([str(name) for name in names], name="peak", dtype=object)
    parts = pd.Series(index, dtype=object).str.extract(_PEAK_PATTERN)
    unparsed = parts["chrom"].isna().to_numpy()
    if unparsed.any():
        first = index[np.flatnonzero(unparsed)[0]]
        raise InputError(source, "peak names", f"cannot parse peak name {first!r}: {_EXPECTED_FORMAT}",
                         "rename the ATAC features (var_names) to chrN-start-end")
    frame = pd.DataFrame(
        {
            "chrom": parts["chrom"].to_numpy(dtype=object),
            "start": parts["start"].to_numpy().astype(np.int64),
            "end": parts["end"].to_numpy().astype(np.int64),
        },
        index=index,
    )
    reversed_ = (frame["start"] > frame["end"]).to_numpy()
    if reversed_.any():
        first = index[np.flatnonzero(reversed_)[0]]
        raise InputError(source, "peak names", f"peak {first!r} has start > end",
                         "fix the peak coordinates so that start <= end")
    return frame


def chromosome_sort_key(chrom: str) -> tuple:
    """Natural chromosome order: chr1..chr22 numerically, then chrX, chrY, then the rest by name.

    The ``chr`` prefix is optional (``1``, ``X`` sort like ``chr1``, ``chrX``).
    """
    match = re.fullmatch(r"(?:chr)?(\d+|X|Y)", chrom, flags=re.IGNORECASE)
    if match is None:
        return (2, 0, chrom)
    name = match.group(1).upper()
    if name.isdigit():
        return (0, int(name), chrom)
    return (1, 0 if name == "X" else 1, chrom)


def bin_peaks(counts, peak_names: Sequence[str], bin_size: int = 5000,
              source: str = "<data>") -> tuple[sp.csr_matrix, list[str]]:
    """Sum peak counts into fixed-size genome bins.

    Assignment rule: a peak goes to the single bin that contains its
    midpoint, bin index ``floor((start + end) / 2 / bin_size)`` on its
    chromosome; a peak straddling a bin border is therefore counted once,
    in the bin holding its centre. Bin ``k`` of chromosome ``c`` is named
    ``c-{k * bin_size}-{(k + 1) * bin_size}`` (end exclusive).

    Parameters
    ----------
    counts
        Cells x peaks counts (dense or any scipy sparse format).
    peak_names
        One name per column of ``counts``, parsed by :func:`parse_peak_names`.
    bin_size
        Bin width in base pairs.
    source
        File the data came from, for error messages.

    Returns
    -------
    binned : scipy.sparse.csr_matrix
        Cells x bins sums, computed as one sparse product
        ``counts @ assignment``. Float input keeps its dtype; integer and
        boolean input give float32.
    bin_names : list of str
        The bins that hold at least one peak, ordered by chromosome in
        natural order (:func:`chromosome_sort_key`) then by position.
    """
    if int(bin_size) != bin_size or bin_size <= 0:
        raise InputError(source, "bin_size", f"must be a positive integer, got {bin_size!r}",
                         "set the ATAC bin size to a positive number of base pairs, e.g. 5000")
    bin_size = int(bin_size)
    peaks = parse_peak_names(peak_names, source=source)
    if counts.shape[1] != len(peaks):
        raise InputError(source, "peak names",
                         f"{len(peaks)} peak names for a matrix with {counts.shape[1]} columns",
                         "pass one name per ATAC feature")
    bin_of_peak, bin_names = _assign_bins(peaks, bin_size)
    dtype = counts.dtype if counts.dtype.kind == "f" else np.dtype(np.float32)
    assignment = sp.csr_matrix(
        (np.ones(len(peaks), dtype=dtype), (np.arange(len(peaks)), bin_of_peak)),
        shape=(len(peaks), len(bin_names)),
    )
    matrix = counts.tocsr() if sp.issparse(counts) else sp.csr_matrix(np.asarray(counts))
    binned = sp.csr_matrix(matrix.astype(dtype, copy=False) @ assignment)
    return binned, bin_names


def _assign_bins(peaks: pd.DataFrame, bin_size: int) -> tuple[np.ndarray, list[str]]:
    """Bin index (column of the output) of every peak, and the ordered bin names."""
    # (start + end) // (2 * bin_size) == floor(midpoint / bin_size), in exact integers.
    bin_index = (peaks["start"].to_numpy() + peaks["end"].to_numpy()) // (2 * bin_size)
    keys = pd.DataFrame({"chrom": peaks["chrom"].to_numpy(), "bin": bin_index})
    unique = keys.drop_duplicates()
    order = sorted(zip(unique["chrom"], unique["bin"]), key=lambda kb: (chromosome_sort_key(kb[0]), kb[1]))
    column = {key: position for position, key in enumerate(order)}
    bin_of_peak = np.fromiter((column[key] for key in zip(keys["chrom"], keys["bin"])),
                              dtype=np.int64, count=len(keys))
    names = [f"{chrom}-{k * bin_size}-{(k + 1) * bin_size}" for chrom, k in order]
    return bin_of_peak, names
