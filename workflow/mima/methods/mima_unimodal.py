"""MIMA-Unimodal: the MIMA model on one modality at a time, without the
product of experts and the translation terms (only private and batch
latents are trained). Embeddings ``unimodal_private_<m>`` and
``unimodal_batch_<m>``."""

from __future__ import annotations


import numpy as np

from .base import Requirements

REQUIRES = Requirements()


def version() -> str:
    """Version of the mima library."""
    from .. import __version__

    return __version__


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """Train one MIMA-Unimodal model per modality.

    Parameters
    ----------
    params
        The dataset's ``mima`` settings: ``model``, ``modalities`` (per
        modality overrides) and ``train``.
    """
    from ..api import MIMA

    embeddings = {}
    for m in modalities:
        model = MIMA.from_settings(mdata, [m], params, model_overrides={"shared": False},
                                   train_overrides={"seed": seed, "num_threads": threads, "progress": False})
        latent = model.get_latent(mdata)
        embeddings[f"unimodal_private_{m}"] = latent[f"private_{m}"]
        embeddings[f"unimodal_batch_{m}"] = latent[f"batch_{m}"]
    return embeddings
