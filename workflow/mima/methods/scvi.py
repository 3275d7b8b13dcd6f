"""scVI on each modality alone (Lopez et al. 2018; scvi-tools).

Embeddings
----------
``scvi_<m>``
    For every modality ``m``: the posterior means of one scVI model trained
    on ``m`` alone, cells x ``n_latent`` (100 by default), rows in the order
    of ``mdata.obs_names``; ``obs['batch']`` is the batch covariate.

Inputs and likelihoods
----------------------
Modalities with raw counts (``layers['counts']``: rna, adt, atac) are
modelled from those counts with a negative binomial (``nb``):

- ``rna``, ``adt``: ``nb``; scVI's default zero-inflated NB adds nothing
  for UMI counts.
- ``atac``: the prepared modality holds **5 kb bins** that sum the read
  counts of the peaks inside them. Those counts are overdispersed relative
  to a Poisson (the NeurIPS files count both reads of a fragment — mostly
  even values — and a bin sums several peaks), so ``nb``, which learns a
  dispersion per bin, is used rather than the Poisson of PoissonVI
  (Martens et al. 2024), which assumes fragment counts.

Modalities without counts (MSI intensities, morphology embeddings) are
modelled from ``X`` with scvi-tools 1.4.2's ``gene_likelihood='normal'``
(marked experimental there): a Gaussian with one learnt standard deviation
per feature. Its mean is by default ``library size x softmax(...)`` — a
composition, meaningless for intensities or embeddings — so the adapter

- registers a constant size factor of 1, which makes scVI's decoder mean a
  per-feature softplus with no library scaling;
- turns ``log_variational`` off (``X`` is already the model input, e.g.
  log1p intensities, and an embedding can be negative);
- shifts each feature that has negative values by its minimum, since a
  softplus mean cannot be negative (an affine shift keeps the information).

Parameters (``method_params.scvi``)
-----------------------------------
``n_latent``
    Latent dimensions; default 100 (DESIGN §4: 100-d where the method allows).
``n_hidden``, ``n_layers``
    Hidden units per layer and layers of the encoder and decoder; scVI's
    defaults 128 and 1.
``max_epochs``
    Default ``None``: scvi-tools' heuristic, ``min(400, round(400 * 20000 /
    n_cells))`` epochs.
``batch_size``
    Minibatch size; default 128.
``likelihood``
    ``{modality: likelihood}`` overriding the choices above (``nb``,
    ``zinb``, ``poisson`` for counts; ``normal``); default ``{}``.

Training: scvi-tools' defaults otherwise (90/10 train/validation split, no
early stopping), ``scvi.settings.seed = seed``, ``threads`` torch threads,
``accelerator='auto'`` (CUDA when present), no progress bar, data loaders
in the main process.

The shared helpers below (seeding, training arguments, parameter checks,
cell alignment) serve the totalVI and MultiVI adapters too.
"""

from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..utils import dense
from .base import Requirements, aligned_modality, merge_params, train_timed

REQUIRES = Requirements(notes="any modality; count modalities use layers['counts'], the others X")

#: Default parameters; ``None`` for ``max_epochs`` means scvi-tools' heuristic.
DEFAULTS = {"n_latent": 100, "n_hidden": 128, "n_layers": 1, "max_epochs": None, "batch_size": 128,
            "likelihood": {}}

#: Likelihoods scVI 1.4.2 offers.
LIKELIHOODS = ("nb", "zinb", "poisson", "normal")

#: obs column of the constant size factor registered for non-count modalities.
SIZE_FACTOR = "_mima_size_factor"


def version() -> str:
    """Version of scvi-tools (read without importing it)."""
    try:
        return _distribution_version("scvi-tools")
    except PackageNotFoundError:
        return "not installed"


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """One scVI model per modality.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2).
    modalities
        Modalities to embed, one model each.
    params
        See the module docstring; missing keys take :data:`DEFAULTS`.
    seed
        ``scvi.settings.seed`` before each model.
    threads
        Torch CPU threads.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``scvi_<m>``: float32, cells x ``n_latent``, rows in ``mdata.obs_names`` order.
    """
    REQUIRES.check(mdata, modalities, "scvi", "<data>")
    settings = merge_params(params, DEFAULTS, "scvi")
    return {f"scvi_{m}": embed_modality(mdata, m, settings, seed, threads) for m in modalities}


def embed_modality(mdata, modality: str, settings: dict, seed: int, threads: int) -> np.ndarray:
    """Train scVI on one modality and return its posterior means."""
    configure(seed, threads)
    import scvi

    adata, likelihood = model_input(mdata, modality, settings["likelihood"].get(modality))
    counts = SIZE_FACTOR not in adata.obs
    with warnings.catch_warnings():
        # non-count X is registered on purpose: silence scvi's "not count data" warning
        warnings.filterwarnings("ignore", message=".*does not contain unnormalized count data.*")
        scvi.model.SCVI.setup_anndata(adata, batch_key="batch",
                                      size_factor_key=None if counts else SIZE_FACTOR)
        model = scvi.model.SCVI(adata, n_latent=settings["n_latent"], n_hidden=settings["n_hidden"],
                                n_layers=settings["n_layers"], gene_likelihood=likelihood,
                                log_variational=counts)
    train_timed(model, f"scvi_{modality}", **train_kwargs(settings))
    return latent(model)


def model_input(mdata, modality: str, likelihood: str | None = None):
    """The AnnData scVI trains on, and its likelihood.

    Parameters
    ----------
    mdata
        The prepared dataset.
    modality
        Modality name.
    likelihood
        Override of the default likelihood (see the module docstring).

    Returns
    -------
    tuple[anndata.AnnData, str]
        A new AnnData (the dataset is not modified) in ``mdata.obs_names``
        order with ``obs['batch']``: the raw counts for a count modality,
        else ``X`` shifted to non-negative values with a constant size
        factor in ``obs``; and the likelihood name.
    """
    import anndata as ad

    adata = aligned_modality(mdata, modality)
    has_counts = "counts" in adata.layers
    if likelihood is None:
        likelihood = "nb" if has_counts else "normal"
    if likelihood not in LIKELIHOODS:
        raise InputError("config", f"method_params.scvi.likelihood.{modality}", f"{likelihood!r} is not an scVI likelihood",
                         f"use one of {list(LIKELIHOODS)}")
    if not has_counts and likelihood != "normal":
        raise InputError("config", f"method_params.scvi.likelihood.{modality}",
                         f"{likelihood!r} needs counts but mod['{modality}'] has no layers['counts']",
                         "use 'normal' for this modality")
    obs = batch_obs(mdata)
    if has_counts:
        return ad.AnnData(sp.csr_matrix(adata.layers["counts"], dtype=np.float32), obs=obs), likelihood
    obs[SIZE_FACTOR] = 1.0
    return ad.AnnData(non_negative(adata.X), obs=obs), likelihood


def non_negative(x):
    """``x`` as float32 with every feature that has negative values shifted
    by its minimum (sparse input without negatives stays sparse)."""
    if sp.issparse(x):
        if x.min() >= 0:
            return sp.csr_matrix(x, dtype=np.float32)
    x = dense(x, np.float32)
    shift = np.minimum(x.min(axis=0), 0.0)
    return np.ascontiguousarray(x - shift, dtype=np.float32)


# --------------------------------------------------------------------------
# helpers shared with the totalVI and MultiVI adapters
# --------------------------------------------------------------------------


def configure(seed: int, threads: int) -> None:
    """Seed scvi-tools (torch, numpy, data splits), set torch threads, no
    progress bars, data loading in the main process."""
    import scvi
    import torch

    torch.set_num_threads(max(1, int(threads)))
    scvi.settings.dl_num_workers = 0
    scvi.settings.seed = int(seed)


def train_kwargs(settings: dict) -> dict:
    """Arguments of ``model.train`` common to every scvi-tools adapter."""
    return {"max_epochs": settings["max_epochs"], "batch_size": settings["batch_size"], "accelerator": "auto",
            "devices": 1, "enable_progress_bar": False, "enable_model_summary": False}


def latent(model, **kwargs) -> np.ndarray:
    """Posterior means of a trained model, float32, in the model's cell order."""
    return np.asarray(model.get_latent_representation(give_mean=True, **kwargs), dtype=np.float32)


def batch_obs(mdata):
    """A fresh obs frame (``mdata.obs_names``) with the categorical ``batch``."""
    import pandas as pd

    if "batch" not in mdata.obs:
        raise InputError("<data>", "obs['batch']", "the prepared dataset has no batch column",
                         "prepare the dataset again (DESIGN §2)")
    batch = mdata.obs["batch"].astype(str).astype("category")
    return pd.DataFrame({"batch": batch.to_numpy()}, index=pd.Index(mdata.obs_names.astype(str), name=None))


def feature_frame(adata, modality: str):
    """An empty var frame named ``<modality>:<feature>``, for the MuData an
    adapter builds (a gene and its protein often share a name; MuData wants
    unique names)."""
    import pandas as pd

    return pd.DataFrame(index=pd.Index([f"{modality}:{name}" for name in adata.var_names]))
