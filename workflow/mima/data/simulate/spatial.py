"""Spatial simulator: a prostate-cancer-like Visium + MSI + H&E study.

Per-sample annotation maps of contiguous blobs (the layout), lipid (MSI)
intensities with a strong non-linear per-sample transform, and a dense
image-embedding-like morphology modality.
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
    _check_positive,
    _count_modality,
    _dense_modality,
    _loadings,
    _shared_factor,
    _sim_info,
    _simulate_rna,
)

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
