"""Deterministic simulators of paired multi-omics with known latent factors.

Every simulator draws three kinds of latent factor and builds each modality
from them, so that a method's embeddings can be checked against the truth:

- a **shared** factor (cells x ``K_SHARED``): a cell-type (annotation)
  centroid plus within-type noise; it drives every modality;
- a **private** factor per modality (cells x ``K_PRIVATE``): independent of
  the cell type and of the other modalities' private factors;
- a **batch** factor (cells x ``K_BATCH``): one random vector per batch
  (sample / donor), identical for all cells of that batch; every
  modality's batch effect is a function of this vector only.

Output contract (all kinds)
---------------------------
``mdata.obs``
    ``batch`` (categorical: donor / sample) and ``label`` (categorical:
    cell type / annotation); spatial data also has ``patient`` and
    ``condition`` (``cancer`` / ``normal``).
``mdata.obs_names``
    ``cell_00000``, ``cell_00001``, ... identical in every modality.
``mdata.obsm``
    ``true_shared`` (float32, cells x ``K_SHARED``), ``true_batch``
    (float32, cells x ``K_BATCH``: the batch vector of the cell's batch);
    spatial data also has ``spatial`` (float32, cells x 2: grid column x,
    grid row y, in spot units).
``mdata.mod[m].obsm['true_private']``
    float32, cells x ``K_PRIVATE``, for every modality ``m``.
``mdata.mod[m].X``
    float32 raw values: scipy CSR counts for ``rna``, ``adt``, ``atac``;
    dense non-negative intensities for ``msi``; dense embedding for
    ``morphology``.
``mdata.mod[m].layers['counts']``
    the same raw counts as ``X`` (CSR float32) for ``rna``, ``adt``, ``atac``.
``mdata.mod[m].var_names``
    ``gene_0000`` (rna), ``protein_000`` (adt), sorted ``chrN-start-end``
    (atac), sorted ``mz_702.544``-style m/z labels (msi), ``morph_000``
    (morphology); unique across modalities.
``mdata.mod[m].var['feature_types']``
    ``GEX``, ``ADT``, ``ATAC``, ``MSI`` or ``Morphology``.
``mdata.uns['simulation']``
    ``kind``, ``seed``, ``params`` (the call's arguments plus the latent
    sizes) and, for spatial data, ``msi_batch`` (per-sample ``gain``,
    ``power``, ``offset`` of the MSI batch transform, in ``batches`` order).

The same seed gives bit-identical output; all randomness comes from one
``numpy.random.default_rng(seed)`` per call.
"""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

from mima.errors import InputError

__all__ = [
    "K_SHARED",
    "K_PRIVATE",
    "K_BATCH",
    "SPATIAL_CLASSES",
    "simulate",
    "simulate_cite",
    "simulate_multiome",
    "simulate_spatial",
]

K_SHARED = 10
K_PRIVATE = 5
K_BATCH = 4

# Annotation classes of the spatial simulator, in category order. Names follow
# the prostate-cancer study (the evaluation's exclusion list uses them).
SPATIAL_CLASSES = (
    "stroma",
    "benign gland",
    "blood vessel",
    "inflammation",
    "nerve",
    "tumour ISUP 1",
    "tumour ISUP 2",
    "tumour ISUP 3",
    "tumour ISUP 4",
    "unlabelled",
)

_CHROMOSOMES = [f"chr{i}" for i in range(1, 23)] + ["chrX"]


# --------------------------------------------------------------------------
# latent factors
# --------------------------------------------------------------------------


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


def _shared_factor(rng, classes, n_classes, spread=1.0, noise=0.3):
    """Class centroid plus isotropic within-class noise."""
    centroids = spread * rng.standard_normal((n_classes, K_SHARED))
    return centroids[classes] + noise * rng.standard_normal((classes.size, K_SHARED))


def _loadings(rng, n_features, k, density, scale):
    """Sparse Gaussian loadings: each feature loads on a random subset of factors."""
    mask = rng.random((n_features, k)) < density
    return scale * rng.standard_normal((n_features, k)) * mask


def _batch_vectors(rng, n_batches, min_dist=1.5, max_tries=100):
    """One N(0, I) vector per batch, redrawn (up to ``max_tries`` times) while
    closer than ``min_dist`` to an earlier one, so that no two batches are
    near-identical by chance."""
    vectors = np.empty((n_batches, K_BATCH))
    for b in range(n_batches):
        for _ in range(max_tries):
            vectors[b] = rng.standard_normal(K_BATCH)
            if b == 0 or np.linalg.norm(vectors[:b] - vectors[b], axis=1).min() >= min_dist:
                break
    return vectors


# --------------------------------------------------------------------------
# count models
# --------------------------------------------------------------------------


def _softmax_rows(eta):
    eta = eta - eta.max(axis=1, keepdims=True)
    e = np.exp(eta)
    return e / e.sum(axis=1, keepdims=True)


def _nb_counts(rng, mean, theta):
    """Negative-binomial counts as a gamma-Poisson mixture (variance mu + mu^2/theta)."""
    rate = rng.gamma(shape=theta, scale=mean / theta)
    return rng.poisson(rate)


def _library_sizes(rng, n_cells, median, sigma, batch_codes, batch_depth):
    return median * np.exp(sigma * rng.standard_normal(n_cells) + batch_depth[batch_codes])


def _count_modality(counts, var_names, feature_type, private):
    """AnnData with CSR float32 counts in X and layers['counts']."""
    X = sp.csr_matrix(counts.astype(np.float32))
    adata = ad.AnnData(
        X=X,
        var=pd.DataFrame({"feature_types": feature_type}, index=pd.Index(var_names)),
    )
    adata.layers["counts"] = X.copy()
    adata.obsm["true_private"] = private.astype(np.float32)
    return adata


def _dense_modality(values, var_names, feature_type, private):
    adata = ad.AnnData(
        X=np.ascontiguousarray(values, dtype=np.float32),
        var=pd.DataFrame({"feature_types": feature_type}, index=pd.Index(var_names)),
    )
    adata.obsm["true_private"] = private.astype(np.float32)
    return adata


def _simulate_rna(rng, z_shared, batch_vec, batch_codes, n_genes, median_depth):
    """Negative-binomial gene counts driven by shared, private and batch factors.

    Returns ``(counts, private)``.
    """
    n_cells = z_shared.shape[0]
    private = rng.standard_normal((n_cells, K_PRIVATE))
    base = rng.normal(0.0, 1.2, n_genes)
    w_shared = _loadings(rng, n_genes, K_SHARED, density=0.3, scale=0.5)
    w_private = _loadings(rng, n_genes, K_PRIVATE, density=0.3, scale=0.4)
    w_batch = _loadings(rng, n_genes, K_BATCH, density=0.5, scale=0.35)
    eta = base + z_shared @ w_shared.T + private @ w_private.T + batch_vec @ w_batch.T
    depth_shift = 0.15 * rng.standard_normal(batch_codes.max() + 1)
    lib = _library_sizes(rng, n_cells, median_depth, 0.35, batch_codes, depth_shift)
    theta = np.exp(rng.normal(np.log(4.0), 0.5, n_genes))
    counts = _nb_counts(rng, lib[:, None] * _softmax_rows(eta), theta)
    return counts, private


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


# --------------------------------------------------------------------------
# assembly
# --------------------------------------------------------------------------


def _cell_names(n_cells):
    return [f"cell_{i:05d}" for i in range(n_cells)]


def _assemble(mods, batch, label, z_shared, z_batch, sim_info, extra_obs=None):
    """Build the MuData with the global obs/obsm/uns contract."""
    names = _cell_names(len(batch))
    for adata in mods.values():
        adata.obs_names = names
    # Build without pulling modality columns: the global obs is set explicitly.
    with md.set_options(pull_on_update=False):
        mdata = md.MuData(mods)
    mdata.obs["batch"] = pd.Categorical(batch, categories=list(dict.fromkeys(batch)))
    mdata.obs["label"] = label
    for key, values in (extra_obs or {}).items():
        mdata.obs[key] = values
    mdata.obsm["true_shared"] = z_shared.astype(np.float32)
    mdata.obsm["true_batch"] = z_batch.astype(np.float32)
    mdata.uns["simulation"] = sim_info
    return mdata


def _batch_names(n_batches):
    """NeurIPS-style donor names: s1d1, s1d2, s1d3, s2d1, ..."""
    return [f"s{b // 3 + 1}d{b % 3 + 1}" for b in range(n_batches)]


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if int(value) < 1:
            raise InputError("simulate", name, f"must be >= 1, got {value}",
                             f"give a positive {name}")


def _cells_and_batches(rng, n_cells, n_batches, n_cell_types):
    batch_codes = np.sort(rng.integers(0, n_batches, n_cells))
    types = _cell_types(rng, n_cells, n_cell_types, batch_codes, n_batches)
    return batch_codes, types


def _type_labels(types, n_cell_types):
    cats = [f"celltype_{t + 1:02d}" for t in range(n_cell_types)]
    present = [c for i, c in enumerate(cats) if np.any(types == i)]
    return pd.Categorical(np.asarray(cats)[types], categories=present)


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
        private factor and a per-batch ambient background). See the module
        docstring for the full obs/obsm/uns contract.
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


# --------------------------------------------------------------------------
# spatial
# --------------------------------------------------------------------------


def _paint(classes, grid_rc, class_name, n_blobs, radius, rng):
    """Paint ``n_blobs`` discs of ``class_name`` at random centres (in place)."""
    code = SPATIAL_CLASSES.index(class_name)
    n_rows, n_cols = grid_rc
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    for _ in range(n_blobs):
        r0, c0 = rng.uniform(0, n_rows - 1), rng.uniform(0, n_cols - 1)
        rad = rng.uniform(*radius)
        classes[(rows - r0) ** 2 + (cols - c0) ** 2 <= rad**2] = code


def _spatial_layout(rng, samples, is_cancer, grid_rc):
    """Per-sample annotation maps made of contiguous blobs.

    Returns ``(true_class, observed_class)`` codes into ``SPATIAL_CLASSES``:
    the observed annotation replaces a few blobs by ``unlabelled`` while the
    biology keeps the true class.
    """
    n_samples = len(samples)
    cancer_idx = np.flatnonzero(is_cancer)
    isup2 = set(rng.choice(cancer_idx, size=min(3, cancer_idx.size), replace=False).tolist())
    isup4 = int(rng.choice(cancer_idx))  # the class present in one sample only
    nerve = set(rng.choice(n_samples, size=min(4, n_samples), replace=False).tolist())
    unlabelled = set(rng.choice(n_samples, size=min(4, n_samples), replace=False).tolist())
    n_spots = grid_rc[0] * grid_rc[1]
    true_maps, observed_maps = [], []
    for s in range(n_samples):
        cls = np.zeros(n_spots, dtype=np.int64)  # stroma background
        n_glands = rng.integers(1, 3) if is_cancer[s] else rng.integers(3, 6)
        _paint(cls, grid_rc, "benign gland", n_glands, (2.0, 3.5), rng)
        _paint(cls, grid_rc, "blood vessel", rng.integers(1, 3), (1.0, 1.6), rng)
        _paint(cls, grid_rc, "inflammation", rng.integers(0, 3), (1.5, 2.5), rng)
        if is_cancer[s]:
            _paint(cls, grid_rc, "tumour ISUP 1", rng.integers(0, 3), (2.5, 4.0), rng)
            _paint(cls, grid_rc, "tumour ISUP 3", rng.integers(1, 3), (3.0, 4.5), rng)
        if s in isup2:
            _paint(cls, grid_rc, "tumour ISUP 2", 1, (1.5, 2.0), rng)
        if s in nerve:
            _paint(cls, grid_rc, "nerve", 1, (1.2, 1.6), rng)
        if s == isup4:
            _paint(cls, grid_rc, "tumour ISUP 4", 1, (2.5, 3.0), rng)
        observed = cls.copy()
        if s in unlabelled:
            _paint(observed, grid_rc, "unlabelled", 1, (1.0, 1.3), rng)
        true_maps.append(cls)
        observed_maps.append(observed)
    return np.concatenate(true_maps), np.concatenate(observed_maps)


def _simulate_msi(rng, z_shared, batch_vectors, batch_codes, n_lipids):
    """Lipid intensities with a strong non-linear per-sample transform.

    A spot's true abundance ``a`` (log-normal, shared + private effects) is
    measured as ``gain_s * (a * suppression_s) ** power_s + offset_s`` with
    multiplicative noise; gain, power, offset and the per-lipid ion
    suppression all derive from the sample's batch vector.
    """
    n_spots = z_shared.shape[0]
    private = rng.standard_normal((n_spots, K_PRIVATE))
    base = rng.normal(0.0, 0.8, n_lipids)
    w_shared = _loadings(rng, n_lipids, K_SHARED, density=0.4, scale=0.35)
    w_private = _loadings(rng, n_lipids, K_PRIVATE, density=0.3, scale=0.3)
    abundance = np.exp(base + z_shared @ w_shared.T + private @ w_private.T)
    w_supp = _loadings(rng, n_lipids, K_BATCH, density=0.5, scale=0.4)
    suppression = np.exp(batch_vectors @ w_supp.T)
    gain = np.exp(1.0 * batch_vectors[:, 0])
    power = np.exp(0.3 * batch_vectors[:, 1])
    offset = 0.5 * np.exp(batch_vectors[:, 2])
    b = batch_codes
    measured = gain[b, None] * (abundance * suppression[b]) ** power[b, None] + offset[b, None]
    measured *= np.exp(0.1 * rng.standard_normal(measured.shape))
    msi_batch = {"gain": gain.tolist(), "power": power.tolist(), "offset": offset.tolist()}
    return measured, private, msi_batch


def _simulate_morphology(rng, z_shared, batch_vec, n_dims):
    """Dense image-embedding-like features with a mild per-sample shift."""
    n_spots = z_shared.shape[0]
    private = rng.standard_normal((n_spots, K_PRIVATE))
    w_shared = rng.standard_normal((n_dims, K_SHARED)) / np.sqrt(K_SHARED)
    w_private = rng.standard_normal((n_dims, K_PRIVATE)) * 0.5 / np.sqrt(K_PRIVATE)
    w_batch = rng.standard_normal((n_dims, K_BATCH)) * 0.1 / np.sqrt(K_BATCH)
    values = z_shared @ w_shared.T + private @ w_private.T + batch_vec @ w_batch.T
    values += rng.normal(0.0, 0.5, values.shape)
    return values, private


def _mz_names(rng, n_lipids):
    """Unique sorted m/z labels (``mz_702.544``) in 400-1000 Da."""
    milli = np.sort(rng.choice(600_000, size=n_lipids, replace=False))
    return [f"mz_{400 + m / 1000:.3f}" for m in milli]


def simulate_spatial(
    n_patients: int = 8,
    grid: tuple[int, int] = (16, 16),
    n_genes: int = 1000,
    n_lipids: int = 200,
    n_morphology: int = 512,
    seed: int = 0,
) -> md.MuData:
    """Simulate a spatial prostate-cancer-like study (Visium + MSI + H&E).

    Each patient gives two samples, ``Pxx_cancer`` and ``Pxx_normal``; each
    sample is a ``grid`` of spots annotated with contiguous regions of the
    classes in :data:`SPATIAL_CLASSES` (tumour classes only in cancer
    samples; ``tumour ISUP 4`` in exactly one sample; ``tumour ISUP 2`` and
    ``nerve`` rare; a few spots ``unlabelled``, whose biology is that of the
    region underneath).

    Parameters
    ----------
    n_patients
        Number of patients (2 samples each).
    grid
        ``(rows, columns)`` of spots per sample.
    n_genes, n_lipids, n_morphology
        Feature counts of the ``rna``, ``msi`` and ``morphology`` modalities.
    seed
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    mudata.MuData
        ``rna``: NB counts with a moderate per-sample effect; ``msi``: dense
        non-negative intensities with a strong non-linear per-sample effect
        (parameters in ``uns['simulation']['msi_batch']``); ``morphology``:
        dense embedding with a mild per-sample shift. ``obs['batch']`` is the
        sample, ``obs['patient']`` and ``obs['condition']`` its parts;
        ``obsm['spatial']`` the (x, y) grid position.
    """
    grid_rc = (int(grid[0]), int(grid[1]))
    _check_positive(n_patients=n_patients, grid_rows=grid_rc[0], grid_cols=grid_rc[1],
                    n_genes=n_genes, n_lipids=n_lipids, n_morphology=n_morphology)
    rng = np.random.default_rng(seed)
    patients = [f"P{p + 1:02d}" for p in range(n_patients)]
    samples = [f"{p}_{c}" for p in patients for c in ("cancer", "normal")]
    is_cancer = np.array([s.endswith("_cancer") for s in samples])
    n_spots_per = grid_rc[0] * grid_rc[1]
    batch_codes = np.repeat(np.arange(len(samples)), n_spots_per)

    true_class, observed = _spatial_layout(rng, samples, is_cancer, grid_rc)
    z_shared = _shared_factor(rng, true_class, len(SPATIAL_CLASSES), spread=1.0, noise=0.3)
    # Samples of one patient share part of their batch vector.
    patient_vec = rng.standard_normal((n_patients, K_BATCH))
    batch_vectors = (patient_vec[np.arange(len(samples)) // 2]
                     + rng.standard_normal((len(samples), K_BATCH))) / np.sqrt(2.0)
    z_batch = batch_vectors[batch_codes]

    rna, rna_private = _simulate_rna(rng, z_shared, z_batch, batch_codes, n_genes, 3000.0)
    msi, msi_private, msi_batch = _simulate_msi(rng, z_shared, batch_vectors, batch_codes, n_lipids)
    morph, morph_private = _simulate_morphology(rng, z_shared, z_batch, n_morphology)
    mods = {
        "rna": _count_modality(rna, [f"gene_{i:04d}" for i in range(n_genes)], "GEX", rna_private),
        "msi": _dense_modality(msi, _mz_names(rng, n_lipids), "MSI", msi_private),
        "morphology": _dense_modality(morph, [f"morph_{i:03d}" for i in range(n_morphology)],
                                      "Morphology", morph_private),
    }

    present = [c for i, c in enumerate(SPATIAL_CLASSES) if np.any(observed == i)]
    label = pd.Categorical(np.asarray(SPATIAL_CLASSES)[observed], categories=present)
    rows, cols = np.divmod(np.arange(n_spots_per), grid_rc[1])
    xy = np.tile(np.column_stack([cols, rows]), (len(samples), 1)).astype(np.float32)
    sample_of = np.asarray(samples)[batch_codes]
    extra = {
        "patient": pd.Categorical([s.split("_")[0] for s in sample_of], categories=patients),
        "condition": pd.Categorical(np.where(is_cancer[batch_codes], "cancer", "normal"),
                                    categories=["cancer", "normal"]),
    }
    params = dict(n_patients=n_patients, grid=list(grid_rc), n_genes=n_genes,
                  n_lipids=n_lipids, n_morphology=n_morphology)
    info = _sim_info("spatial", seed, params)
    info["msi_batch"] = msi_batch
    info["batches"] = samples
    mdata = _assemble(mods, sample_of, label, z_shared, z_batch, info, extra)
    mdata.obsm["spatial"] = xy
    return mdata


# --------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------


def _sim_info(kind, seed, params):
    """Plain-typed record of the simulation (writes to h5mu)."""
    params = {k: (list(v) if isinstance(v, (list, tuple)) else int(v)) for k, v in params.items()}
    params.update(k_shared=K_SHARED, k_private=K_PRIVATE, k_batch=K_BATCH)
    return {"kind": kind, "seed": int(seed), "params": params}


_SIMULATORS = {
    "cite": simulate_cite,
    "multiome": simulate_multiome,
    "spatial": simulate_spatial,
}


def simulate(kind: str, **kwargs) -> md.MuData:
    """Simulate a data set of the given kind.

    Parameters
    ----------
    kind
        ``'cite'``, ``'multiome'`` or ``'spatial'``.
    **kwargs
        Passed to :func:`simulate_cite`, :func:`simulate_multiome` or
        :func:`simulate_spatial`.

    Returns
    -------
    mudata.MuData
        The simulated data set.

    Raises
    ------
    mima.errors.InputError
        If ``kind`` is not one of the valid kinds.
    """
    if kind not in _SIMULATORS:
        raise InputError("simulate", "kind", f"{kind!r} is not a simulator",
                         f"use one of: {', '.join(_SIMULATORS)}")
    return _SIMULATORS[kind](**kwargs)
