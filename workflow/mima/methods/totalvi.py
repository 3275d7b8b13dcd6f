"""totalVI on RNA + protein counts (Gayoso et al. 2021; scvi-tools).

Embeddings
----------
``totalvi``
    The joint latent space's posterior means, cells x ``n_latent`` (100 by
    default), rows in the order of ``mdata.obs_names``.

Inputs
------
``layers['counts']`` of ``rna`` (negative binomial, ``gene_likelihood='nb'``,
totalVI's default) and of ``adt`` (totalVI's background + foreground
negative-binomial mixture), registered with
``scvi.model.TOTALVI.setup_mudata`` on a new MuData (the dataset is not
modified); ``obs['batch']`` is the batch covariate. Proteins with no counts
in a whole batch are treated by totalVI as not measured there (it warns and
trains with its adversarial classifier).

Parameters (``method_params.totalvi``)
--------------------------------------
``n_latent``
    Latent dimensions; default 100 (DESIGN §4: 100-d where the method allows;
    totalVI takes any size, its default is 20).
``max_epochs``
    Default ``None``: scvi-tools' heuristic, ``min(400, round(400 * 20000 /
    n_cells))`` epochs.
``batch_size``
    Minibatch size; default 128 (the benchmark's batch size; totalVI's own
    default is 256).

Training: totalVI's defaults otherwise (lr 4e-3, early stopping on the
validation ELBO, learning-rate reduction on plateau, KL warm-up), seeded with
``scvi.settings.seed = seed``, ``threads`` torch threads,
``accelerator='auto'`` (CUDA when present), no progress bar.
"""

from __future__ import annotations

import numpy as np

from ..utils import dense
from .base import Requirements
from .base import aligned_modality, merge_params, train_timed
from .scvi import batch_obs, configure, feature_frame, latent, train_kwargs
from .scvi import version as scvi_version

REQUIRES = Requirements(modalities=("rna", "adt"), counts=("rna", "adt"), min_modalities=2,
                        notes="RNA and protein (ADT) raw counts in layers['counts']")

DEFAULTS = {"n_latent": 100, "max_epochs": None, "batch_size": 128}


def version() -> str:
    """Version of scvi-tools (read without importing it)."""
    return scvi_version()


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """Train totalVI on the RNA and ADT counts.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2) with ``rna`` and ``adt`` counts.
    modalities
        The dataset's modalities (must include ``rna`` and ``adt``; others
        are ignored).
    params
        See the module docstring; missing keys take :data:`DEFAULTS`.
    seed
        ``scvi.settings.seed``.
    threads
        Torch CPU threads.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``totalvi``: float32, cells x ``n_latent``, rows in ``mdata.obs_names`` order.
    """
    REQUIRES.check(mdata, modalities, "totalvi", "<data>")
    settings = merge_params(params, DEFAULTS, "totalvi")
    configure(seed, threads)
    import scvi

    counts = model_input(mdata)
    scvi.model.TOTALVI.setup_mudata(counts, batch_key="batch",
                                    modalities={"rna_layer": "rna", "protein_layer": "adt"})
    model = scvi.model.TOTALVI(counts, n_latent=settings["n_latent"], gene_likelihood="nb")
    train_timed(model, "totalvi", **train_kwargs(settings))
    return {"totalvi": latent(model)}


def model_input(mdata):
    """A new MuData whose ``rna`` and ``adt`` ``X`` are the counts
    (``layers['counts']``; float32, CSR for RNA, dense for the few proteins),
    cells in ``mdata.obs_names`` order, with the global ``obs['batch']``."""
    import anndata as ad
    import mudata as md
    import scipy.sparse as sp

    obs = batch_obs(mdata)
    rna, adt = aligned_modality(mdata, "rna"), aligned_modality(mdata, "adt")
    mods = {
        "rna": ad.AnnData(sp.csr_matrix(rna.layers["counts"], dtype=np.float32), obs=obs[[]].copy(),
                          var=feature_frame(rna, "rna")),
        # dense: totalVI's empirical protein prior (a GMM per cell) rejects sparse rows
        "adt": ad.AnnData(np.ascontiguousarray(dense(adt.layers["counts"], np.float32)), obs=obs[[]].copy(),
                          var=feature_frame(adt, "adt")),
    }
    with md.set_options(pull_on_update=False):
        out = md.MuData(mods)
    out.obs = obs.loc[out.obs_names]
    return out

