"""Building blocks shared by every simulator kind.

Latent factors (class-driven shared factor, sparse loadings, per-batch
vectors), count models (negative-binomial counts, library sizes, the RNA
modality that every kind has), modality AnnData builders and the assembly of
the final MuData with the obs/obsm/uns contract described in
:mod:`mima.data.simulate`.

All functions take the caller's ``numpy.random.Generator`` and draw from it in
a fixed order; the simulators' bit-identical output depends on that order.
"""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

from mima.errors import InputError

K_SHARED = 10
K_PRIVATE = 5
K_BATCH = 4


# --------------------------------------------------------------------------
# latent factors
# --------------------------------------------------------------------------


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


def _check_positive(**kwargs):
    for name, value in kwargs.items():
        if int(value) < 1:
            raise InputError("simulate", name, f"must be >= 1, got {value}",
                             f"give a positive {name}")


def _sim_info(kind, seed, params):
    """Plain-typed record of the simulation (writes to h5mu)."""
    params = {k: (list(v) if isinstance(v, (list, tuple)) else int(v)) for k, v in params.items()}
    params.update(k_shared=K_SHARED, k_private=K_PRIVATE, k_batch=K_BATCH)
    return {"kind": kind, "seed": int(seed), "params": params}
