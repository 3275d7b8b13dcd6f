"""PCA baseline: PCA of each modality and of the concatenated modalities.

Embeddings (DESIGN §2)
----------------------
``pca_<m>``
    PCA scores of modality ``m``'s ``X`` (cells × k).
``pca_concat``
    With two or more modalities: PCA scores of the modalities side by side,
    each first centred and scaled to a total variance of 1, so that no
    modality dominates through its number of features (cells × k).

k = min(``n_comps``, n_cells - 1, n_features - 1), where n_features is the
modality's (or the concatenation's) number of features. Scores are
``U · S`` (the projection of the centred data on the components), with
scikit-learn's deterministic sign convention.

Parameters (``method_params.pca``)
----------------------------------
``n_comps``
    Number of components (default 100).

Sparse input is never densified: scikit-learn's PCA (≥ 1.4) centres sparse
matrices implicitly and runs ARPACK on them; dense input uses its ``auto``
solver (exact, or randomized seeded with ``seed``).

The computations (:func:`mima.preprocess.pca.pca_embedding`,
:func:`mima.preprocess.pca.concatenated_pca`) live in
:mod:`mima.preprocess.pca`, which Harmony, MOFA+, Scanorama, the plots and
the translation tables share; this module is the adapter around them.
"""

from __future__ import annotations

import numpy as np

from ..preprocess.pca import concatenated_pca, pca_embedding
from .base import Requirements, limit_threads, merge_params, modality_matrix

__all__ = ["REQUIRES", "DEFAULTS", "run", "version"]

REQUIRES = Requirements(notes="PCA of each modality's X; pca_concat of the variance-balanced concatenation (≥ 2 modalities).")

DEFAULTS = {"n_comps": 100}


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """PCA embeddings of a prepared dataset.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2).
    modalities
        Modalities to embed.
    params
        ``n_comps`` (default 100).
    seed
        Solver seed.
    threads
        BLAS threads.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``pca_<m>`` per modality and ``pca_concat`` for two or more
        modalities; float32, cells × k in the order of ``mdata.obs_names``.
    """
    options = merge_params(params, DEFAULTS, "pca")
    modalities = list(modalities)
    matrices = {m: modality_matrix(mdata, m) for m in modalities}
    out = {}
    with limit_threads(threads):
        for m, X in matrices.items():
            out[f"pca_{m}"] = pca_embedding(X, options["n_comps"], seed).astype(np.float32)
        if len(matrices) >= 2:
            out["pca_concat"] = concatenated_pca(list(matrices.values()), options["n_comps"], seed).astype(np.float32)
    return out


def version() -> str:
    """scikit-learn's version."""
    from importlib.metadata import version as dist_version

    return dist_version("scikit-learn")
