"""Held-out predictions of a MIMA model trained on the other folds
(translation 4CV, DESIGN §4).

For every target modality the output holds, on the held-out cells and the
target's evaluation features (``var['hvf']``) only: ``X`` = the true values,
layer ``reconstructed`` = the denoised reconstruction from every modality,
and ``translated_from_<n>`` = the translation from each other modality,
which never reads the target (its batch latent is the sample's mean over the
training cells). A fold's training and held-out cells come from
:func:`mima.data.folds.fold_masks`.

:func:`write_heldout_predictions` computes and writes them a block of cells
at a time (memory bounded whatever the number of cells; the file's
matrices are dense, chunked, as in :mod:`mima.outputs`);
:func:`heldout_predictions` builds the same MuData in memory.
"""

from __future__ import annotations

import os

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from ..data.h5_layers import write_h5mu_in_chunks
from ..data.h5mu_rows import H5muRows
from ..outputs import DEFAULT_MEMORY_MB, ModelInput, block_sizes, compute_block
from ..status import mark_ok
from ..utils import dense

#: obs columns the predictions keep
OBS_COLUMNS = ("batch", "label")


def _layers(model) -> dict[str, list[str]]:
    return {m: ["denoised"] + [f"translated_from_{n}" for n in model.modalities if n != m] for m in model.modalities}


def _rename(name: str) -> str:
    return "reconstructed" if name == "denoised" else name


def _skeleton(obs: pd.DataFrame, var: dict[str, pd.Index]) -> md.MuData:
    mods = {m: ad.AnnData(obs=pd.DataFrame(index=obs.index.copy()), var=pd.DataFrame(index=names.copy()))
            for m, names in var.items()}
    with md.set_options(pull_on_update=False):
        out = md.MuData(mods)
    out.obs = obs[[c for c in OBS_COLUMNS if c in obs]].copy()
    return out


def heldout_predictions(model, heldout: md.MuData) -> md.MuData:
    """Predictions of ``model`` on ``heldout`` cells (see module docstring), in memory.

    Parameters
    ----------
    model
        A trained :class:`mima.api.MIMA` (not trained on these cells).
    heldout
        The prepared dataset restricted to the held-out cells.
    """
    hvf = {m: heldout.mod[m].var["hvf"].to_numpy(dtype=bool) for m in model.modalities}
    out = _skeleton(heldout.obs, {m: heldout.mod[m].var_names[hvf[m]] for m in model.modalities})
    values = compute_block(model, model.arrays(heldout), _layers(model))
    for m, layers in values.items():
        out.mod[m].X = dense(heldout.mod[m].X[:, hvf[m]], np.float32)
        for name, value in layers.items():
            out.mod[m].layers[_rename(name)] = value[:, hvf[m]]
    return out


def write_heldout_predictions(model, data_path: str | os.PathLike, heldout_mask: np.ndarray,
                              out_path: str | os.PathLike, memory_mb: float = DEFAULT_MEMORY_MB,
                              block: int | None = None) -> None:
    """Compute :func:`heldout_predictions` of the cells ``heldout_mask`` of
    the ``.h5mu`` ``data_path`` a block of cells at a time and write them to
    ``out_path`` atomically (``uns['status'] = 'ok'``).

    Parameters
    ----------
    model
        A trained :class:`mima.api.MIMA`.
    data_path
        The prepared dataset; only the blocks' rows are read.
    heldout_mask
        Boolean mask of the held-out cells over the dataset's cells.
    out_path
        Destination ``.h5mu``.
    memory_mb
        Memory for one block (sets the block size); ``block`` overrides it.
    """
    layers = _layers(model)
    block, batch = block_sizes(model, {m: names + ["X"] for m, names in layers.items()}, memory_mb, block)
    with H5muRows(data_path) as reader:
        model_input = ModelInput(model, reader, str(data_path))
        rows_all = np.flatnonzero(np.asarray(heldout_mask, dtype=bool))
        hvf = {m: reader.var(m)["hvf"].to_numpy(dtype=bool) for m in model.modalities}
        skeleton = _skeleton(reader.obs.iloc[rows_all], {m: reader.var(m).index[hvf[m]] for m in model.modalities})
        mark_ok(skeleton)
        spec = {m: {"X": int(hvf[m].sum()), **{_rename(n): int(hvf[m].sum()) for n in names}}
                for m, names in layers.items()}

        def blocks():
            for start in range(0, rows_all.size, block):
                rows = rows_all[start:start + block]
                data = model_input.block(rows)
                values = compute_block(model, data, layers, batch_size=batch)
                out = {m: {_rename(n): v[:, hvf[m]] for n, v in named.items()} for m, named in values.items()}
                for m in out:
                    out[m]["X"] = dense(reader.rows(m, rows)[:, hvf[m]], np.float32)
                yield start, start + rows.size, out

        write_h5mu_in_chunks(skeleton, out_path, spec, blocks(), n_rows=rows_all.size)
