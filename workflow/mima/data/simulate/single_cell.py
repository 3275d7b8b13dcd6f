"""Single-cell simulators: paired CITE-seq (RNA + ADT) and 10x Multiome (RNA + ATAC).

Cells belong to donors (batches) and cell types of unequal frequency; the
protein (ADT) counts carry a per-batch ambient background and the ATAC peak
counts are sparse and low, on sorted, clustered ``chrN-start-end`` peaks.
"""

from __future__ import annotations

import mudata as md
import numpy as np
import pandas as pd

from .building_blocks import (
    K_BATCH,
    K_PRIVATE,
    K_SHARED,
    _assemble,
    _batch_vectors,
    _check_positive,
    _count_modality,
    _library_sizes,
    _loadings,
    _nb_counts,
    _shared_factor,
    _sim_info,
    _simulate_rna,
    _softmax_rows,
)

_CHROMOSOMES = [f"chr{i}" for i in range(1, 23)] + ["chrX"]


def _cell_types(rng, n_cells, n_cell_types, batch_codes, n_batches):
    """Draw a cell type per cell; types are unequally frequent and each
    batch's composition is mildly perturbed."""
    base = np.exp(-0.3 * np.arange(n_cell_types))
    types = np.empty(n_cells, dtype=np.int64)
    for b in range(n_batches):
        idx = np.flatnonzero(batch_codes == b)
        p = base * np.exp(0.3 * rng.standard_normal(n_cell_types))
        types[idx] = rng.choice(n_cell_types, size=idx.size, p=p / p.sum())
    return types


def _cells_and_batches(rng, n_cells, n_batches, n_cell_types):
    batch_codes = np.sort(rng.integers(0, n_batches, n_cells))
    types = _cell_types(rng, n_cells, n_cell_types, batch_codes, n_batches)
    return batch_codes, types


def _type_labels(types, n_cell_types):
    cats = [f"celltype_{t + 1:02d}" for t in range(n_cell_types)]
    present = [c for i, c in enumerate(cats) if np.any(types == i)]
    return pd.Categorical(np.asarray(cats)[types], categories=present)


def _batch_names(n_batches):
    """NeurIPS-style donor names: s1d1, s1d2, s1d3, s2d1, ..."""
    return [f"s{b // 3 + 1}d{b % 3 + 1}" for b in range(n_batches)]


def _simulate_adt(rng, z_shared, batch_vectors, batch_codes, n_proteins):
    """Protein counts: cell-specific NB signal plus a per-batch ambient background."""
    n_cells = z_shared.shape[0]
    private = rng.standard_normal((n_cells, K_PRIVATE))
    base = rng.normal(0.0, 0.8, n_proteins)
    w_shared = _loadings(rng, n_proteins, K_SHARED, density=0.5, scale=0.5)
    w_private = _loadings(rng, n_proteins, K_PRIVATE, density=0.4, scale=0.35)
    eta = base + z_shared @ w_shared.T + private @ w_private.T
    lib = _library_sizes(rng, n_cells, 2000.0, 0.4, batch_codes, np.zeros(len(batch_vectors)))
    signal = lib[:, None] * _softmax_rows(eta)
    # Ambient background: its level and per-protein profile depend on the batch vector.
    profile = _softmax_rows(rng.normal(0.0, 0.7, (1, n_proteins)))[0] * n_proteins
    w_bg = _loadings(rng, n_proteins, K_BATCH, density=0.5, scale=0.4)
    level = 4.0 * np.exp(0.5 * batch_vectors[:, 0])
    background = level[:, None] * profile * np.exp(batch_vectors @ w_bg.T)
    counts = _nb_counts(rng, signal + background[batch_codes], 10.0)
    return counts, private


def _peak_names(rng, n_peaks):
    """Sorted ``chrN-start-end`` peaks, 200-1000 bp, clustered so that several
    fall in the same 5 kb window."""
    per_chrom = rng.multinomial(n_peaks, np.full(len(_CHROMOSOMES), 1.0 / len(_CHROMOSOMES)))
    names = []
    for chrom, n in zip(_CHROMOSOMES, per_chrom):
        widths = rng.integers(200, 1001, n)
        # A mixture of short gaps (peaks of one regulatory region) and long gaps.
        short = rng.random(n) < 0.6
        gaps = np.where(short, rng.integers(50, 1500, n), rng.integers(10_000, 300_000, n))
        starts = 10_000 + np.cumsum(gaps) + np.concatenate([[0], np.cumsum(widths[:-1])])
        names.extend(f"{chrom}-{s}-{s + w}" for s, w in zip(starts, widths))
    return names


def _simulate_atac(rng, z_shared, batch_vec, batch_codes, n_peaks):
    """Sparse low peak counts (mostly 0/1/2).

    Each peak is open in a cell with probability ``sigmoid(eta)``; the count
    is Poisson with mean (per-cell depth x that probability), so counts stay
    small as in real fragment counts per peak.
    """
    n_cells = z_shared.shape[0]
    private = rng.standard_normal((n_cells, K_PRIVATE))
    base = rng.normal(-2.0, 0.7, n_peaks)
    w_shared = _loadings(rng, n_peaks, K_SHARED, density=0.3, scale=0.8)
    w_private = _loadings(rng, n_peaks, K_PRIVATE, density=0.3, scale=0.5)
    w_batch = _loadings(rng, n_peaks, K_BATCH, density=0.5, scale=0.35)
    eta = base + z_shared @ w_shared.T + private @ w_private.T + batch_vec @ w_batch.T
    depth_shift = 0.2 * rng.standard_normal(batch_codes.max() + 1)
    depth = _library_sizes(rng, n_cells, 1.5, 0.4, batch_codes, depth_shift)
    counts = rng.poisson(depth[:, None] / (1.0 + np.exp(-eta)))
    return counts, private


def simulate_cite(
    n_cells: int = 1200,
    n_genes: int = 1000,
    n_proteins: int = 130,
    n_batches: int = 3,
    n_cell_types: int = 8,
    seed: int = 0,
) -> md.MuData:
    """Simulate paired CITE-seq (RNA + surface proteins) with known factors.

    Parameters
    ----------
    n_cells, n_genes, n_proteins
        Sizes of the data set.
    n_batches
        Number of donors (``obs['batch']``: ``s1d1``, ``s1d2``, ...).
    n_cell_types
        Number of cell types (``obs['label']``: ``celltype_01``, ...), with
        decreasing frequencies.
    seed
        Seed of ``numpy.random.default_rng``; the same seed gives identical
        output.

    Returns
    -------
    mudata.MuData
        Modalities ``rna`` (NB gene counts: library size x softmax of shared +
        private + batch effects) and ``adt`` (NB protein counts with a
        private factor and a per-batch ambient background). See
        :mod:`mima.data.simulate` for the full obs/obsm/uns contract.
    """
    _check_positive(n_cells=n_cells, n_genes=n_genes, n_proteins=n_proteins,
                    n_batches=n_batches, n_cell_types=n_cell_types)
    rng = np.random.default_rng(seed)
    batch_codes, types = _cells_and_batches(rng, n_cells, n_batches, n_cell_types)
    z_shared = _shared_factor(rng, types, n_cell_types)
    batch_vectors = _batch_vectors(rng, n_batches)
    z_batch = batch_vectors[batch_codes]
    rna, rna_private = _simulate_rna(rng, z_shared, z_batch, batch_codes, n_genes, 1500.0)
    adt, adt_private = _simulate_adt(rng, z_shared, batch_vectors, batch_codes, n_proteins)
    mods = {
        "rna": _count_modality(rna, [f"gene_{i:04d}" for i in range(n_genes)], "GEX", rna_private),
        "adt": _count_modality(adt, [f"protein_{i:03d}" for i in range(n_proteins)], "ADT", adt_private),
    }
    params = dict(n_cells=n_cells, n_genes=n_genes, n_proteins=n_proteins, n_batches=n_batches,
                  n_cell_types=n_cell_types)
    return _assemble(
        mods,
        np.asarray(_batch_names(n_batches))[batch_codes],
        _type_labels(types, n_cell_types),
        z_shared,
        z_batch,
        _sim_info("cite", seed, params),
    )


def simulate_multiome(
    n_cells: int = 1000,
    n_genes: int = 1000,
    n_peaks: int = 3000,
    n_batches: int = 3,
    n_cell_types: int = 8,
    seed: int = 0,
) -> md.MuData:
    """Simulate paired 10x Multiome (RNA + ATAC peaks) with known factors.

    Parameters
    ----------
    n_cells, n_genes, n_peaks
        Sizes of the data set.
    n_batches
        Number of donors (``obs['batch']``).
    n_cell_types
        Number of cell types (``obs['label']``).
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    mudata.MuData
        Modalities ``rna`` (NB gene counts) and ``atac`` (sparse, low NB peak
        counts, mostly 0/1/2). ATAC ``var_names`` are sorted
        ``chrN-start-end`` coordinates on chr1..chr22, chrX, 200-1000 bp
        long, clustered so several peaks share a 5 kb window
        ``floor(midpoint / 5000)``.
    """
    _check_positive(n_cells=n_cells, n_genes=n_genes, n_peaks=n_peaks,
                    n_batches=n_batches, n_cell_types=n_cell_types)
    rng = np.random.default_rng(seed)
    batch_codes, types = _cells_and_batches(rng, n_cells, n_batches, n_cell_types)
    z_shared = _shared_factor(rng, types, n_cell_types)
    batch_vectors = _batch_vectors(rng, n_batches)
    z_batch = batch_vectors[batch_codes]
    rna, rna_private = _simulate_rna(rng, z_shared, z_batch, batch_codes, n_genes, 1500.0)
    atac, atac_private = _simulate_atac(rng, z_shared, z_batch, batch_codes, n_peaks)
    mods = {
        "rna": _count_modality(rna, [f"gene_{i:04d}" for i in range(n_genes)], "GEX", rna_private),
        "atac": _count_modality(atac, _peak_names(rng, n_peaks), "ATAC", atac_private),
    }
    params = dict(n_cells=n_cells, n_genes=n_genes, n_peaks=n_peaks, n_batches=n_batches,
                  n_cell_types=n_cell_types)
    return _assemble(
        mods,
        np.asarray(_batch_names(n_batches))[batch_codes],
        _type_labels(types, n_cell_types),
        z_shared,
        z_batch,
        _sim_info("multiome", seed, params),
    )
