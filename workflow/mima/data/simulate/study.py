"""Stand-ins of the MIMA study's three datasets, of their exact shapes.

:func:`simulate_neurips_cite` and :func:`simulate_neurips_multiome` return one
AnnData shaped like the GEO GSE194122 processed files (every feature in one
CSR matrix, ``var['feature_types']``, raw counts in ``layers['counts']``, the
organisers' normalisation in ``X``); :func:`simulate_pca_spatial` returns the
three per-modality AnnData of the Zenodo record 17369670. At ``scale=1`` and
``feature_scale=1`` the shapes are exactly those of :func:`planned_shapes`.

The model is a mixture of programs, so that no dense cells x features matrix
is ever built. Every modality has one expression profile (a distribution over
its features) per cell type / tissue class, per batch and per direction
``+-k`` of the :data:`K_SHARED` latent dimensions, all derived from the same
type centroids and batch vectors (:mod:`~mima.data.simulate.building_blocks`).
A cell mixes its type's program (most of its reads), its batch's program (the
batch effect) and the direction programs of its own within-type latent
offset; its counts are ``depth`` reads drawn from that mixture, i.e. sampled
directly as sparse (feature, count) pairs, in chunks of cells. Cell types
(tissue classes) thus drive every modality, donors (samples) add a batch
effect, and the latent offset adds shared continuous variation.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...preprocess.normalize import log_normalize
from . import study_features as names
from .building_blocks import K_SHARED, _batch_vectors, _loadings

#: Published shapes: cells, batches, features per modality (and, for ATAC, 5 kb bins of the peak midpoints).
FULL_SHAPES = {
    "neurips_cite": {"n_cells": 90_261, "batches": names.CITE_BATCHES, "features": {"rna": 13_953, "adt": 134}},
    "neurips_multiome": {"n_cells": 69_249, "batches": names.MULTIOME_BATCHES,
                         "features": {"rna": 13_431, "atac": 116_490}, "atac_bins": 40_110},
    "pca_spatial": {"n_cells": 42_475, "batches": tuple(f"{p}_{c}" for p in names.PATIENTS
                                                        for c in ("cancer", "normal")),
                    "features": {"rna": 18_950, "msi": 12_510, "morphology": 512}},
}
STUDY_DATASETS = tuple(FULL_SHAPES)
_MIN_FEATURES = {"rna": 50, "adt": 10, "atac": 40, "msi": 20, "morphology": 8}
_MIN_CELLS_PER_BATCH = 3
_CHUNK = 2048  # cells generated at a time
# Reads per cell per feature (median): sets the fraction of non-zero entries (RNA ~7 %, ATAC ~4 %).
_DEPTH = {"rna": 0.13, "atac": 0.042, "adt": 25.0}
_DATASET_CODE = {name: code for code, name in enumerate(STUDY_DATASETS, start=1)}


def planned_shapes(dataset: str, scale: float = 1.0, feature_scale: float = 1.0) -> dict:
    """Shapes of a stand-in, computed without generating it.

    Parameters
    ----------
    dataset
        One of :data:`STUDY_DATASETS`.
    scale
        Fraction of the published cells: ``max(round(n_cells * scale), 3 * n_batches)``.
    feature_scale
        Fraction of the published features per modality: ``max(round(n * feature_scale), minimum)``
        (minimum 50 genes, 10 proteins, 40 peaks, 20 m/z, 8 morphology features).

    Returns
    -------
    dict
        ``n_cells``, ``batches`` (names), ``features`` (``{modality: n}``) and, for
        ``neurips_multiome``, ``atac_bins`` (distinct 5 kb bins of the peak midpoints).
    """
    if dataset not in FULL_SHAPES:
        raise ValueError(f"unknown study dataset {dataset!r}; use one of {STUDY_DATASETS}")
    if scale <= 0 or feature_scale <= 0:
        raise ValueError("scale and feature_scale must be positive")
    full = FULL_SHAPES[dataset]
    shapes = {
        "n_cells": max(round(full["n_cells"] * scale), _MIN_CELLS_PER_BATCH * len(full["batches"])),
        "batches": list(full["batches"]),
        "features": {m: max(round(n * feature_scale), _MIN_FEATURES[m]) for m, n in full["features"].items()},
    }
    if "atac_bins" in full:
        shapes["atac_bins"] = min(max(round(full["atac_bins"] * feature_scale), 1), shapes["features"]["atac"])
    return shapes


# --------------------------------------------------------------------------
# latent structure and programs
# --------------------------------------------------------------------------


def _centroids(rng, lineages):
    """Type centroids (types x K_SHARED): a lineage centroid plus a smaller type offset."""
    unique = list(dict.fromkeys(lineages))
    lineage = 1.6 * rng.standard_normal((len(unique), K_SHARED))
    return lineage[[unique.index(x) for x in lineages]] + 0.45 * rng.standard_normal((len(lineages), K_SHARED))


def _programs(rng, n_features, centroids, batch_vectors, sigma_base, strength):
    """Log-profiles (programs x features) of one modality.

    Rows: one per type (``base + centroid @ W.T``), one per batch (``base + batch @ Wb.T``),
    then ``base +- W[:, k]`` per latent direction ``k``.
    """
    base = rng.normal(0.0, sigma_base, n_features)
    w = _loadings(rng, n_features, K_SHARED, density=0.3, scale=strength)
    w_batch = _loadings(rng, n_features, batch_vectors.shape[1], density=0.5, scale=strength)
    return np.vstack([base + centroids @ w.T, base + batch_vectors @ w_batch.T, base + w.T, base - w.T])


def _set_marker(logits, feature, types, high_types, high, low):
    """Make ``feature`` a marker: log-profile ``high`` in the programs of ``high_types``, ``low`` in every other."""
    logits[:, feature] = low
    logits[[i for i, t in enumerate(types) if t in high_types], feature] = high


def _cdf(logits):
    """Stacked cumulative distributions: row ``k`` shifted by ``k``, flattened (for one searchsorted)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0
    return (cdf + np.arange(len(cdf))[:, None]).ravel()


def _mixture_weights(types, batches, offsets, n_types, n_batches, batch_weight, direction_weight):
    """Per-cell weights over the programs of :func:`_programs`."""
    n = len(types)
    weights = np.zeros((n, n_types + n_batches + 2 * K_SHARED))
    weights[np.arange(n), types] = 1.0 - batch_weight - direction_weight
    weights[np.arange(n), n_types + batches] = batch_weight
    magnitude = np.abs(offsets).sum(axis=1, keepdims=True)
    start = n_types + n_batches
    weights[:, start:start + K_SHARED] = direction_weight * np.maximum(offsets, 0) / magnitude
    weights[:, start + K_SHARED:] = direction_weight * np.maximum(-offsets, 0) / magnitude
    return weights


def _sample_counts(rng, weights, cdf, n_features, depth):
    """Counts (CSR float32, int32 indices) of ``depth[i]`` reads per cell drawn from its program mixture."""
    per_program = rng.multinomial(depth, weights).T
    program, cell = np.nonzero(per_program)  # reads grouped by program: searchsorted stays in one cdf block
    reads = per_program[program, cell]
    query = np.repeat(program, reads) + rng.random(int(reads.sum()))
    feature = np.searchsorted(cdf, query, side="right") - np.repeat(program, reads) * n_features
    keys, counts = np.unique(np.repeat(cell, reads).astype(np.int64) * n_features + feature, return_counts=True)
    rows, cols = np.divmod(keys, n_features)
    indptr = np.zeros(len(depth) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(depth)), out=indptr[1:])
    return sp.csr_matrix((counts.astype(np.float32), cols.astype(np.int32), indptr), shape=(len(depth), n_features))


def _depth(rng, n_features, kind, batch_depth):
    """Reads per cell: log-normal around the modality's median, shifted per batch."""
    depth = _DEPTH[kind] * n_features * np.exp(0.35 * rng.standard_normal(len(batch_depth)) + batch_depth)
    return np.maximum(1, np.round(depth)).astype(np.int64)


class _Rows:
    """Row chunks of a CSR matrix, stacked at the end into ``counts`` and ``X`` that share their structure."""

    def __init__(self):
        self.row_nnz, self.indices, self.counts, self.x = [], [], [], []

    def add(self, counts, x):
        counts, x = counts.tocsr(), x.tocsr()
        if not np.array_equal(counts.indices, x.indices):
            raise AssertionError("X and counts must share their non-zero pattern")
        self.row_nnz.append(np.diff(counts.indptr))
        self.indices.append(counts.indices.astype(np.int32))
        self.counts.append(counts.data.astype(np.float32))
        self.x.append(x.data.astype(np.float32))

    def stack(self, n_cols):
        """``(counts, X)``: CSR float32 with int32 indices and indptr while they fit (shared arrays)."""
        row_nnz = np.concatenate(self.row_nnz)
        dtype = np.int32 if int(row_nnz.sum()) < 2**31 - 1 else np.int64
        indptr = np.zeros(len(row_nnz) + 1, dtype=dtype)
        np.cumsum(row_nnz, out=indptr[1:])
        indices = _concatenate_and_free(self.indices).astype(dtype, copy=False)
        shape = (len(row_nnz), n_cols)
        counts = sp.csr_matrix((_concatenate_and_free(self.counts), indices, indptr), shape=shape, copy=False)
        x = sp.csr_matrix((_concatenate_and_free(self.x), indices, indptr), shape=shape, copy=False)
        return counts, x


def _concatenate_and_free(parts: list) -> np.ndarray:
    out = np.concatenate(parts)
    parts.clear()
    return out


def _cells(rng, n_cells, batches, abundance, composition_noise=0.3):
    """Batch (sorted, every batch >= 3 cells) and type codes; each batch perturbs the type composition."""
    sizes = names.apportion(n_cells, rng.uniform(0.6, 1.4, len(batches)), _MIN_CELLS_PER_BATCH)
    batch = np.repeat(np.arange(len(batches)), sizes)
    types = np.empty(n_cells, dtype=np.int64)
    abundance = np.asarray(abundance, dtype=np.float64)
    for b, size in enumerate(sizes):
        p = abundance * np.exp(composition_noise * rng.standard_normal(abundance.size))
        types[batch == b] = rng.choice(abundance.size, size=size, p=p / p.sum())
    return batch, types


def _model_and_cell_rngs(seed, dataset):
    """Generators of a dataset's model (independent of its size) and of its cells."""
    code = _DATASET_CODE[dataset]
    return np.random.default_rng([seed, code, 0]), np.random.default_rng([seed, code])


def _chunk_rngs(seed, dataset, n_cells):
    """One generator per chunk of :data:`_CHUNK` cells, independent of the others."""
    for number, start in enumerate(range(0, n_cells, _CHUNK), start=1):
        yield slice(start, min(start + _CHUNK, n_cells)), np.random.default_rng([seed, _DATASET_CODE[dataset], number])


# --------------------------------------------------------------------------
# the GEO files
# --------------------------------------------------------------------------


def _clr(counts):
    """Per-cell centred log-ratio of ADT counts, ``log1p(x / exp(mean_j log1p(x)))`` (zeros stay zero)."""
    counts = counts.tocsr()
    row_nnz = np.diff(counts.indptr)
    log_sums = np.zeros(counts.shape[0])
    np.add.at(log_sums, np.repeat(np.arange(counts.shape[0]), row_nnz), np.log1p(counts.data))
    geometric = np.exp(log_sums / counts.shape[1])
    x = counts.copy()
    x.data = np.log1p(counts.data / np.repeat(geometric, row_nnz)).astype(np.float32)
    return x


def _simulate_geo(dataset, kind, cell_types, scale, feature_scale, seed):
    """The shared body of the two GEO stand-ins; ``kind`` is ``'adt'`` or ``'atac'``."""
    import anndata as ad
    import pandas as pd

    shapes = planned_shapes(dataset, scale, feature_scale)
    n_cells, batch_names = shapes["n_cells"], shapes["batches"]
    n_genes, n_other = shapes["features"]["rna"], shapes["features"][kind]
    # The biology (centroids, donor effects, programs, names) does not depend on the number of cells.
    rng, cell_rng = _model_and_cell_rngs(seed, dataset)
    centroids = _centroids(rng, [lineage for _, lineage, _ in cell_types])
    site = np.array([int(b[1]) - 1 for b in batch_names])
    batch_vectors = (_batch_vectors(rng, 4)[site] + 0.7 * _batch_vectors(rng, len(batch_names))) / 1.2
    batch_depth = {m: 0.25 * rng.standard_normal(len(batch_names)) for m in ("rna", kind)}
    if kind == "adt":
        other_names = names.protein_names(n_other)
        other_cdf = _cdf(_programs(rng, n_other, centroids, batch_vectors, 1.0, 0.6))
        ambient = rng.uniform(0.08, 0.3, len(batch_names))  # per-donor ambient / background share
    else:
        other_names = names.peak_names(rng, n_other, shapes["atac_bins"])
        other_cdf = _cdf(_programs(rng, n_other, centroids, batch_vectors, 0.4, 0.35))
    gene_names = names.gene_names(rng, n_genes, exclude=other_names)
    gene_cdf = _cdf(_programs(rng, n_genes, centroids, batch_vectors, 1.5, 0.7))
    batch, types = _cells(cell_rng, n_cells, batch_names, [a for _, _, a in cell_types])
    offsets = 0.6 * cell_rng.standard_normal((n_cells, K_SHARED))
    obs_names = [bc for b, name in enumerate(batch_names)
                 for bc in names.barcodes(cell_rng, int((batch == b).sum()), f"1-{name}")]

    rows = _Rows()
    for cells, chunk_rng in _chunk_rngs(seed, dataset, n_cells):
        b, t, z = batch[cells], types[cells], offsets[cells]
        w = _mixture_weights(t, b, z, len(cell_types), len(batch_names), 0.2, 0.25)
        gex = _sample_counts(chunk_rng, w, gene_cdf, n_genes, _depth(chunk_rng, n_genes, "rna", batch_depth["rna"][b]))
        if kind == "adt":
            w = _mixture_weights(t, b, z, len(cell_types), len(batch_names), 0.0, 0.2)
            w[np.arange(len(b)), len(cell_types) + b] = ambient[b]
            w /= w.sum(axis=1, keepdims=True)
            other = _sample_counts(chunk_rng, w, other_cdf, n_other,
                                   _depth(chunk_rng, n_other, "adt", batch_depth[kind][b]))
            other_x = _clr(other)
        else:
            w = _mixture_weights(t, b, z, len(cell_types), len(batch_names), 0.2, 0.25)
            other = _sample_counts(chunk_rng, w, other_cdf, n_other,
                                   _depth(chunk_rng, n_other, "atac", batch_depth[kind][b]))
            other_x = other.copy()
            other_x.data[:] = 1.0  # the published ATAC X: binarised counts
        rows.add(sp.hstack([gex, other], format="csr"), sp.hstack([log_normalize(gex), other_x], format="csr"))
    counts, x = rows.stack(n_genes + n_other)

    feature_type = "ADT" if kind == "adt" else "ATAC"
    var = pd.DataFrame(
        {"feature_types": pd.Categorical(["GEX"] * n_genes + [feature_type] * n_other,
                                         categories=["GEX", feature_type]),
         "gene_id": [f"ENSG{100000 + i:011d}" for i in range(n_genes)] + other_names},
        index=pd.Index(gene_names + other_names))
    modality = "cite" if kind == "adt" else "multiome"
    batch_of_cell = np.asarray(batch_names)[batch]
    obs = pd.DataFrame({
        "cell_type": pd.Categorical(np.asarray([c for c, _, _ in cell_types])[types],
                                    categories=sorted(c for c, _, _ in cell_types)),
        "batch": pd.Categorical(batch_of_cell, categories=sorted(batch_names)),
        "Samplename": pd.Categorical([f"site{name[1]}_donor{name[3:]}_{modality}" for name in batch_of_cell]),
        "Site": pd.Categorical([f"site{name[1]}" for name in batch_of_cell]),
        "DonorNumber": pd.Categorical([f"donor{name[3:]}" for name in batch_of_cell]),
        "Modality": pd.Categorical([modality] * n_cells),
    }, index=pd.Index(obs_names))
    uns = {"dataset_id": f"openproblems_neurips2021_{modality}_BMMC", "genome": "GRCh38", "organism": "human",
           "standin": {"seed": int(seed), "scale": float(scale), "feature_scale": float(feature_scale)}}
    return ad.AnnData(X=x, obs=obs, var=var, layers={"counts": counts}, uns=uns)


def simulate_neurips_cite(scale: float = 1.0, feature_scale: float = 1.0, seed: int = 0):
    """Stand-in of ``GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad``.

    Parameters
    ----------
    scale, feature_scale
        Fractions of the published cells and features (:func:`planned_shapes`).
    seed
        The same seed gives identical data.

    Returns
    -------
    anndata.AnnData
        90,261 cells x (13,953 GEX + 134 ADT) at full scale, one CSR float32 matrix:
        ``layers['counts']`` integer counts (GEX ~7 % non-zero, ADT almost all non-zero);
        ``X`` log1p of counts per 10k for GEX, per-cell CLR for ADT; ``var['feature_types']``;
        obs ``batch`` (12 donors ``s1d1`` ...), ``cell_type`` (45 BMMC types, very imbalanced),
        ``Samplename``, ``Site``, ``DonorNumber``, ``Modality``. ``X`` and ``layers['counts']``
        share their ``indices`` / ``indptr`` arrays (same non-zero pattern), to save memory.
    """
    return _simulate_geo("neurips_cite", "adt", names.CITE_CELL_TYPES, scale, feature_scale, seed)


def simulate_neurips_multiome(scale: float = 1.0, feature_scale: float = 1.0, seed: int = 0):
    """Stand-in of ``GSE194122_openproblems_neurips2021_multiome_BMMC_processed.h5ad``.

    Parameters
    ----------
    scale, feature_scale
        Fractions of the published cells and features (:func:`planned_shapes`).
    seed
        The same seed gives identical data.

    Returns
    -------
    anndata.AnnData
        69,249 cells x (13,431 GEX + 116,490 ATAC peaks) at full scale, as
        :func:`simulate_neurips_cite` but with ATAC peaks ``chrN-start-end`` whose
        midpoints fall into exactly 40,110 distinct 5 kb bins; ATAC counts ~4 %
        non-zero, mostly 1-2; ATAC ``X`` is the binarised counts (0/1), as published.
        22 cell types, 13 donors.
    """
    return _simulate_geo("neurips_multiome", "atac", names.MULTIOME_CELL_TYPES, scale, feature_scale, seed)
