"""UMAP coordinates of the figures (DESIGN §5) and the RGB mapping of a 3-D
UMAP.

One seeded UMAP per embedding over all cells — never one per sample — so
colours are comparable across samples. Views: ``input_<m>`` (each
modality's input), ``corrected_<m>`` (MIMA's batch-corrected
reconstruction) and ``poe`` (MIMA's shared embedding).

MIMA's batch-corrected layers stay on disk
(:class:`~mima.data.h5_layers.LayerRows`); their PCA before UMAP reads them
a block of cells at a time (:func:`mima.preprocess.streaming_pca.streaming_pca`).
"""

from __future__ import annotations

import logging
import os
import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from ..preprocess.pca import pca_embedding
from ..utils import dense

log = logging.getLogger(__name__)

#: embeddings with more dimensions are reduced by PCA before UMAP
MAX_UMAP_INPUT_DIMS = 50


def umap_coordinates(matrix, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.3,
                     seed: int = 0, n_epochs: int | None = None) -> np.ndarray:
    """Seeded UMAP of the rows of ``matrix``.

    Parameters
    ----------
    matrix
        Cells × features (dense or sparse, or an on-disk
        :class:`~mima.data.h5_layers.LayerRows`). More than
        :data:`MAX_UMAP_INPUT_DIMS` features are first reduced by PCA.
    n_components
        2 for the scatter panels, 3 for RGB.
    n_neighbors, min_dist
        UMAP's settings (``n_neighbors`` capped at cells − 1).
    seed
        ``random_state``: UMAP then runs single-threaded and is reproducible.
    n_epochs
        Optimisation epochs; None keeps umap-learn's choice (500 below
        10,000 cells, else 200).

    Returns
    -------
    numpy.ndarray
        float32, cells × ``n_components``.
    """
    import umap

    from ..data.h5_layers import LayerRows
    from ..preprocess.streaming_pca import streaming_pca

    if isinstance(matrix, LayerRows):
        wide = matrix.shape[1] > MAX_UMAP_INPUT_DIMS
        matrix = streaming_pca(matrix, MAX_UMAP_INPUT_DIMS, seed) if wide else matrix.read()
    elif matrix.shape[1] > MAX_UMAP_INPUT_DIMS:
        matrix = pca_embedding(matrix, MAX_UMAP_INPUT_DIMS, seed)
    values = dense(matrix, np.float32)
    n_cells = values.shape[0]
    if n_cells <= n_components + 1:
        raise ValueError(f"UMAP needs more than {n_components + 1} cells, got {n_cells}")
    reducer = umap.UMAP(n_components=n_components, n_neighbors=min(n_neighbors, n_cells - 1), min_dist=min_dist,
                        random_state=seed, init="spectral" if n_cells > n_components + 10 else "random",
                        n_epochs=n_epochs)
    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state": wanted, for reproducibility
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return reducer.fit_transform(values).astype(np.float32)


def rgb_from_coordinates(coordinates: np.ndarray) -> np.ndarray:
    """Colours of a 3-D embedding: each axis min-max scaled to [0, 1] over
    all cells, as red, green and blue.

    Parameters
    ----------
    coordinates
        Cells × 3.

    Returns
    -------
    numpy.ndarray
        Cells × 3 in [0, 1]; an axis without spread maps to 0.5.
    """
    values = np.asarray(coordinates, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 3:
        raise ValueError(f"RGB needs cells × 3 coordinates, got shape {values.shape}")
    low, high = values.min(axis=0), values.max(axis=0)
    spread = high - low
    rgb = np.full_like(values, 0.5)
    varying = spread > 0
    rgb[:, varying] = (values[:, varying] - low[varying]) / spread[varying]
    return rgb


def view_matrices(data: md.MuData, outputs, mima: ad.AnnData | None) -> dict[str, object]:
    """The matrix behind each UMAP view that can be drawn.

    ``outputs`` is MIMA's ``outputs.h5mu``: its path (the batch-corrected
    layers are then left on disk, as :class:`~mima.data.h5_layers.LayerRows`)
    or a MuData in memory; ``None`` leaves the ``corrected_<m>`` views out.
    ``corrected_<m>`` and ``poe`` are absent when MIMA failed (its outputs
    hold no layers / no ``poe``).
    """
    views = {f"input_{m}": data.mod[m].X for m in data.mod}
    if isinstance(outputs, (str, os.PathLike)):
        import h5py

        from ..data.h5_layers import LayerRows, element_path

        with h5py.File(outputs, "r") as file:
            available = [m for m in data.mod if element_path(m, "batch_corrected") in file]
        for m in available:
            views[f"corrected_{m}"] = LayerRows(outputs, m, "batch_corrected")
    elif outputs is not None:
        for m in data.mod:
            if m in outputs.mod and "batch_corrected" in outputs.mod[m].layers:
                views[f"corrected_{m}"] = outputs.mod[m].layers["batch_corrected"]
    if mima is not None and "poe" in mima.obsm:
        views["poe"] = mima.obsm["poe"]
    return views


def compute_views(views: dict[str, object], obs: pd.DataFrame, three_d: bool, n_neighbors: int = 15,
                  min_dist: float = 0.3, seed: int = 0, n_epochs: int | None = None) -> ad.AnnData:
    """2-D (and, for tissue data, 3-D) UMAPs of every view.

    Returns
    -------
    anndata.AnnData
        ``obs`` = cells; ``obsm['<view>_2d']`` and ``obsm['<view>_3d']``;
        ``uns['views']`` lists the views computed.
    """
    result = ad.AnnData(obs=obs.copy())
    for name, matrix in views.items():
        log.info("UMAP of %s (%d × %d)", name, *matrix.shape)
        result.obsm[f"{name}_2d"] = umap_coordinates(matrix, 2, n_neighbors, min_dist, seed, n_epochs)
        if three_d:
            result.obsm[f"{name}_3d"] = umap_coordinates(matrix, 3, n_neighbors, min_dist, seed, n_epochs)
    result.uns["views"] = list(views)
    return result
