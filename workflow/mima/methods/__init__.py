"""Method adapters behind one contract (see :mod:`mima.methods.base`) and
the runner that turns any adapter's result — or failure — into an
embeddings file.

Importing this package imports no tool: each adapter imports its own inside
``run``, so every adapter runs in its own tool's environment.
"""

from __future__ import annotations

import logging
import time
import traceback

import numpy as np

from ..embeddings import embedding_file
from ..errors import one_line
from ..status import FAILED
from . import registry

log = logging.getLogger(__name__)

def adapter(name: str):
    """The adapter module of the registered method ``name``."""
    return registry.get(name).adapter()


def run_method(name: str, mdata, modalities: list[str], params: dict, seed: int, threads: int = 1,
               source: str = "<data>"):
    """Run one method and return its embeddings file (DESIGN §2).

    Any failure — an unmet requirement, a crash, a non-finite or misshapen
    embedding — is caught and returned as a file with no ``obsm``,
    ``uns['status'] = 'failed'`` and ``uns['reason']``, so the other
    methods' results and every table still get produced. The traceback goes
    to the log.

    Parameters
    ----------
    name
        A registered method (:mod:`mima.methods.registry`).
    mdata
        The prepared dataset.
    modalities
        The dataset's modalities, in order.
    params
        The method's parameters.
    seed, threads
        Passed to the adapter.
    source
        File name for messages.
    """
    started = time.time()
    info = {"name": name, "version": "unknown", "seed": int(seed), "parameters": params}
    try:
        module = adapter(name)
        info["version"] = module.version()
        module.REQUIRES.check(mdata, modalities, name, source)
        embeddings = module.run(mdata, modalities, params, seed, threads)
        _check_embeddings(embeddings, mdata.n_obs)
    except Exception as error:  # failure isolation: one method's crash must not stop the others
        log.error("method %s failed:\n%s", name, traceback.format_exc())
        info["runtime_s"] = time.time() - started
        return embedding_file(mdata.obs, {}, info, status=FAILED, reason=one_line(error))
    info["runtime_s"] = time.time() - started
    return embedding_file(mdata.obs, embeddings, info)


def _check_embeddings(embeddings: dict, n_cells: int) -> None:
    if not embeddings:
        raise ValueError("the method returned no embedding")
    for key, values in embeddings.items():
        values = np.asarray(values)
        if values.ndim != 2 or values.shape[0] != n_cells:
            raise ValueError(f"embedding {key} has shape {values.shape}, expected ({n_cells}, k)")
        if not np.isfinite(values).all():
            raise FloatingPointError(f"embedding {key} has {int((~np.isfinite(values)).sum())} non-finite values")
