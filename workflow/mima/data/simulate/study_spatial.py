"""Stand-in of the study's prostate-cancer spatial dataset (Zenodo record 17369670).

Sixteen Visium sections (8 patients x cancer / normal) with contiguous tissue
annotations; RNA counts drawn as sparse reads from the program mixture of
:mod:`mima.data.simulate.study`, MSI intensities (dense) from the same
mixture with a non-linear per-sample transform, and a dense morphology
embedding.
"""

from __future__ import annotations

import numpy as np

from . import study_features as names
from .building_blocks import K_BATCH, K_SHARED
from .study import (
    _Rows,
    _cdf,
    _centroids,
    _chunk_rngs,
    _depth,
    _model_and_cell_rngs,
    _mixture_weights,
    _programs,
    _sample_counts,
    _set_marker,
    planned_shapes,
)

_DATASET = "pca_spatial"
_TUMOUR = ("tumour ISUP 1", "tumour ISUP 2", "tumour ISUP 3", "tumour ISUP 4", "tumour ISUP 5", "PIN")
_LINEAGES = {"tumour ISUP 1": "tumour", "tumour ISUP 2": "tumour", "tumour ISUP 3": "tumour",
             "tumour ISUP 4": "tumour", "tumour ISUP 5": "tumour", "PIN": "epithelium",
             "benign epithelium": "epithelium", "necrosis": "tumour"}
# Rare classes forced into one section each (cancer-only ones into cancer sections), so all appear.
_FORCED = {0: "tumour ISUP 4", 2: "tumour ISUP 2", 4: "necrosis", 6: "tumour ISUP 5", 1: "nerve", 3: "other",
           5: "unlabelled", 7: "PIN", 9: "immune", 11: "nerve"}


def _layout(rng, samples, n_cells):
    """Spots per section, their Visium positions and tissue classes."""
    sizes = names.apportion(n_cells, rng.uniform(0.7, 1.3, len(samples)), 3)
    classes = [c for c, _, _ in names.TISSUE_CLASSES]
    xy, tissue = [], []
    for s, (sample, size) in enumerate(zip(samples, sizes)):
        spots = names.visium_spots(rng, int(size))
        forced = (classes.index(_FORCED[s]),) if s in _FORCED else ()
        xy.append(spots)
        tissue.append(names.tissue_annotation(rng, spots, sample.endswith("_cancer"), forced))
    return np.repeat(np.arange(len(samples)), sizes), np.concatenate(xy), np.concatenate(tissue)


def simulate_pca_spatial(scale: float = 1.0, feature_scale: float = 1.0, seed: int = 0) -> dict:
    """Stand-in of the study's prostate-cancer Visium + MSI + H&E data (Zenodo 17369670).

    Parameters
    ----------
    scale, feature_scale
        Fractions of the published spots and features (:func:`~mima.data.simulate.study.planned_shapes`).
    seed
        The same seed gives identical data.

    Returns
    -------
    dict of str to anndata.AnnData
        ``rna`` (42,475 spots x 18,950 genes at full scale, CSR float32 integer counts
        in ``X``, ~7 % non-zero), ``msi`` (12,510 dense non-negative float32 intensities,
        var names m/z labels such as ``"702.544"``) and ``morphology`` (512 dense float32
        features): the same spots in the same order, each with obs ``sample``
        (``PWB929_cancer``, ...), ``annotation`` (tissue class), ``patient``, ``condition``
        and ``obsm['spatial']`` (Visium spot positions, um).

    Notes
    -----
    NEFH (RNA) and m/z 702.544 (MSI) are the study's translation-map features, which the
    pipeline requires among the highly variable features (top 2000 by variance, then top
    1000 by mean, after log-normalisation for RNA and as provided for MSI). Both get
    marker-level signal: NEFH is among the most expressed genes in stroma and nerve and
    low elsewhere; 702.544 is the most abundant lipid in tumour and PIN and low elsewhere.
    """
    import anndata as ad
    import pandas as pd

    shapes = planned_shapes(_DATASET, scale, feature_scale)
    samples, n_cells = shapes["batches"], shapes["n_cells"]
    n_genes, n_mz, n_morph = (shapes["features"][m] for m in ("rna", "msi", "morphology"))
    classes = [c for c, _, _ in names.TISSUE_CLASSES]
    # The biology (centroids, sample effects, programs, names) does not depend on the number of spots.
    rng, cell_rng = _model_and_cell_rngs(seed, _DATASET)
    centroids = _centroids(rng, [_LINEAGES.get(c, c) for c in classes])
    patient_vectors = rng.standard_normal((len(names.PATIENTS), K_BATCH))
    batch_vectors = (patient_vectors[np.arange(len(samples)) // 2] + rng.standard_normal((len(samples), K_BATCH))) / 1.4
    batch_depth = 0.25 * rng.standard_normal(len(samples))
    w_morph = rng.standard_normal((n_morph, K_SHARED)) / np.sqrt(K_SHARED)
    w_morph_batch = rng.standard_normal((n_morph, K_BATCH)) * 0.1 / np.sqrt(K_BATCH)

    batch, xy, tissue = _layout(cell_rng, samples, n_cells)
    offsets = 0.6 * cell_rng.standard_normal((n_cells, K_SHARED))
    # A Visium spot covers several cells: up to 40 % of its signal is the tissue of a spot 1-3 places along its row.
    mix = 0.4 * cell_rng.random(n_cells)
    first = np.repeat(np.flatnonzero(np.r_[True, batch[1:] != batch[:-1]]), np.bincount(batch))
    last = first + np.repeat(np.bincount(batch), np.bincount(batch)) - 1
    step = cell_rng.integers(1, 4, n_cells) * cell_rng.choice([-1, 1], n_cells)
    neighbour = tissue[np.clip(np.arange(n_cells) + step, first, last)]

    genes = names.gene_names(rng, n_genes)
    gene_logits = _programs(rng, n_genes, centroids, batch_vectors, 1.5, 0.7)
    _set_marker(gene_logits, genes.index("NEFH"), classes, ("stroma", "nerve"),
                np.quantile(gene_logits[0], 0.9995), np.median(gene_logits[0]) - 1.0)
    gene_cdf = _cdf(gene_logits)
    mz = names.mz_names(rng, n_mz)
    mz_logits = _programs(rng, n_mz, centroids, batch_vectors, 0.8, 0.4)
    _set_marker(mz_logits, mz.index(names.MSI_MARKER), classes, _TUMOUR, mz_logits.max() + 1.0,
                np.median(mz_logits[0]) - 1.0)
    abundance = np.exp(mz_logits - mz_logits.max()).astype(np.float32)
    abundance *= n_mz / abundance[:len(classes)].sum(axis=1).mean()  # mean intensity ~1 per m/z
    gain, power = np.exp(0.4 * batch_vectors[:, 0]), np.exp(0.1 * batch_vectors[:, 1])

    rows, msi = _Rows(), np.empty((n_cells, n_mz), dtype=np.float32)
    for cells, chunk_rng in _chunk_rngs(seed, _DATASET, n_cells):
        b, t = batch[cells], tissue[cells]
        w = _mixture_weights(t, b, offsets[cells], len(classes), len(samples), 0.2, 0.25)
        shift, spots = mix[cells] * w[np.arange(len(t)), t], np.arange(len(t))
        w[spots, t] -= shift
        w[spots, neighbour[cells]] += shift
        counts = _sample_counts(chunk_rng, w, gene_cdf, n_genes, _depth(chunk_rng, n_genes, "rna", batch_depth[b]))
        rows.add(counts, counts)
        signal = (w.astype(np.float32) @ abundance) ** power[b, None].astype(np.float32)
        noise = np.exp(0.15 * chunk_rng.standard_normal(signal.shape, dtype=np.float32))
        msi[cells] = gain[b, None].astype(np.float32) * signal * noise
    rna, _ = rows.stack(n_genes)
    # Morphology: a dense image embedding of the spot's (mixed) tissue, a mild per-sample shift and noise.
    z_cell = (1 - mix[:, None]) * centroids[tissue] + mix[:, None] * centroids[neighbour] + offsets
    morphology = (z_cell @ w_morph.T + batch_vectors[batch] @ w_morph_batch.T).astype(np.float32)
    morphology += cell_rng.normal(0.0, 0.5, morphology.shape).astype(np.float32)

    obs = pd.DataFrame({
        "sample": pd.Categorical(np.asarray(samples)[batch], categories=samples),
        "annotation": pd.Categorical(np.asarray(classes)[tissue], categories=classes),
        "patient": pd.Categorical([s.split("_")[0] for s in np.asarray(samples)[batch]], categories=names.PATIENTS),
        "condition": pd.Categorical([s.split("_")[1] for s in np.asarray(samples)[batch]],
                                    categories=["cancer", "normal"]),
    }, index=pd.Index([bc for s, sample in enumerate(samples)
                       for bc in names.barcodes(cell_rng, int((batch == s).sum()), f"1-{sample}")]))
    uns = {"standin": {"seed": int(seed), "scale": float(scale), "feature_scale": float(feature_scale)}}
    out = {}
    for modality, values, var_names in (("rna", rna, genes), ("msi", msi, mz),
                                        ("morphology", morphology,
                                         [f"morph_{i:03d}" for i in range(n_morph)])):
        out[modality] = ad.AnnData(X=values, obs=obs.copy(), var=pd.DataFrame(index=pd.Index(var_names)), uns=uns)
        out[modality].obsm["spatial"] = xy.copy()
    return out
