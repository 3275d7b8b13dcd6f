"""The embeddings file contract (DESIGN §2):
``results/{dataset}/embeddings/{method}.h5ad`` with ``obs`` = cells,
``obsm[name]`` per embedding, ``uns['method']`` = name, version, seed,
parameters, runtime, and the status of :mod:`mima.status` (``ok``, or
``failed`` with a reason)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd

from .data.atomic_write import write_h5ad_atomic
from .status import FAILED, OK, mark_failed, mark_ok


def embedding_file(obs: pd.DataFrame, embeddings: dict[str, np.ndarray], method: dict, status: str = OK,
                   reason: str | None = None) -> ad.AnnData:
    """Build the AnnData of one method's embeddings.

    Parameters
    ----------
    obs
        The cells (global obs of the prepared dataset).
    embeddings
        ``{name: cells × dims}``.
    method
        ``name``, ``version``, ``seed``, ``parameters`` (any JSON-able dict,
        stored as JSON text), ``runtime_s``.
    status, reason
        :data:`mima.status.FAILED` with a reason for a method that did not
        produce its embeddings.
    """
    adata = ad.AnnData(obs=obs.copy())
    for name, values in embeddings.items():
        adata.obsm[name] = np.asarray(values, dtype=np.float32)
    info = dict(method)
    info["parameters"] = json.dumps(info.get("parameters", {}), sort_keys=True, default=str)
    adata.uns["method"] = info
    if status == FAILED:
        mark_failed(adata, reason or "")
    else:
        mark_ok(adata)
    return adata


def write_embeddings(path: str, obs: pd.DataFrame, embeddings: dict[str, np.ndarray], method: dict, **kwargs) -> None:
    """Write :func:`embedding_file` atomically to ``path``."""
    write_h5ad_atomic(embedding_file(obs, embeddings, method, **kwargs), path)
