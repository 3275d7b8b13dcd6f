"""MultiVI on RNA + ATAC counts (Ashuach et al. 2023; scvi-tools).

Embeddings
----------
``multivi``
    The joint latent space's posterior means (MultiVI's mix of the
    expression and accessibility posteriors), cells x ``n_latent`` (100 by
    default), rows in the order of ``mdata.obs_names``.

Inputs
------
Registered with ``scvi.model.MULTIVI.setup_mudata`` (scvi-tools 1.4 dropped
``setup_anndata`` for MultiVI) on a new MuData (the dataset is not
modified); ``obs['batch']`` is the batch covariate.

- ``rna``: ``layers['counts']``, MultiVI's ``gene_likelihood`` (default its
  own, ``zinb``).
- ``atac``: the prepared modality's ``layers['counts']`` are **5 kb bin**
  counts (the peaks' counts summed per bin), not peaks; MultiVI takes any
  region x cell counts. They are **binarised** (``counts > 0``): MultiVI
  models accessibility as Bernoulli (its reconstruction loss compares with
  ``counts > 0``) but feeds the raw values to its accessibility encoder, so
  binarising gives the encoder exactly the data the likelihood sees, as
  PeakVI/MultiVI were designed for, whatever the read depth of a bin.

Parameters (``method_params.multivi``)
--------------------------------------
``n_latent``
    Latent dimensions; default 100 (DESIGN §4: 100-d where the method allows;
    MultiVI takes any size, its default is ``sqrt(n_hidden)``).
``n_hidden``
    Hidden units; default ``None``: MultiVI's rule ``min(128,
    sqrt(n_regions))`` (128 for genome-wide bins), raised to ``n_latent``
    when smaller, so that no hidden layer is narrower than the latent space
    on small data.
``gene_likelihood``
    ``zinb`` (MultiVI's default), ``nb`` or ``poisson``.
``max_epochs``
    Default ``None``: MultiVI's own default, 500, with its early stopping on
    the validation reconstruction loss (patience 50).
``batch_size``
    Minibatch size; default 128 (also MultiVI's).

Training: MultiVI's defaults otherwise (AdamW, lr 1e-4, KL warm-up over 50
epochs, adversarial modality mixing), seeded with ``scvi.settings.seed =
seed``, ``threads`` torch threads, ``accelerator='auto'`` (CUDA when
present), no progress bar.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Requirements
from .base import aligned_modality, merge_params, train_timed
from .scvi import batch_obs, configure, feature_frame, latent, train_kwargs
from .scvi import version as scvi_version

REQUIRES = Requirements(modalities=("rna", "atac"), counts=("rna", "atac"), min_modalities=2,
                        notes="RNA and ATAC (bin or peak) raw counts in layers['counts']")

DEFAULTS = {"n_latent": 100, "n_hidden": None, "gene_likelihood": "zinb", "max_epochs": None, "batch_size": 128}


def version() -> str:
    """Version of scvi-tools (read without importing it)."""
    return scvi_version()


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """Train MultiVI on the RNA counts and the binarised ATAC counts.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2) with ``rna`` and ``atac`` counts.
    modalities
        The dataset's modalities (must include ``rna`` and ``atac``; others
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
        ``multivi``: float32, cells x ``n_latent``, rows in ``mdata.obs_names`` order.
    """
    REQUIRES.check(mdata, modalities, "multivi", "<data>")
    settings = merge_params(params, DEFAULTS, "multivi")
    configure(seed, threads)
    import scvi

    counts = model_input(mdata)
    scvi.model.MULTIVI.setup_mudata(counts, batch_key="batch", modalities={"rna_layer": "rna", "atac_layer": "atac"})
    model = scvi.model.MULTIVI(counts, n_latent=settings["n_latent"],
                               n_hidden=hidden_units(settings, counts.mod["atac"].n_vars),
                               gene_likelihood=settings["gene_likelihood"])
    kwargs = train_kwargs(settings)
    if kwargs["max_epochs"] is None:
        del kwargs["max_epochs"]  # MultiVI's own default
    train_timed(model, "multivi", **kwargs)
    return {"multivi": latent(model)}


def hidden_units(settings: dict, n_regions: int) -> int:
    """``n_hidden``, or MultiVI's rule ``min(128, sqrt(n_regions))`` raised to ``n_latent``."""
    if settings["n_hidden"] is not None:
        return int(settings["n_hidden"])
    return max(min(128, int(math.sqrt(n_regions))), int(settings["n_latent"]))


def model_input(mdata):
    """A new MuData (``rna`` then ``atac``, MultiVI's order) whose ``X`` are
    the RNA counts and the binarised ATAC counts (CSR float32), cells in
    ``mdata.obs_names`` order, with the global ``obs['batch']``."""
    import anndata as ad
    import mudata as md
    import scipy.sparse as sp

    obs = batch_obs(mdata)
    rna, atac = aligned_modality(mdata, "rna"), aligned_modality(mdata, "atac")
    accessible = sp.csr_matrix(atac.layers["counts"], dtype=np.float32, copy=True)
    accessible.data = (accessible.data > 0).astype(np.float32)
    accessible.eliminate_zeros()
    mods = {
        "rna": ad.AnnData(sp.csr_matrix(rna.layers["counts"], dtype=np.float32), obs=obs[[]].copy(),
                          var=feature_frame(rna, "rna")),
        "atac": ad.AnnData(accessible, obs=obs[[]].copy(), var=feature_frame(atac, "atac")),
    }
    with md.set_options(pull_on_update=False):
        out = md.MuData(mods)
    out.obs = obs.loc[out.obs_names]
    return out
