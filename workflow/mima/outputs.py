"""MIMA's outputs (DESIGN §2), computed and written a block of cells at a
time.

``outputs.h5mu`` holds, per modality ``m`` (all cells × all of ``m``'s
features, float32), the layers

- ``denoised``: dec_m(z_PoE + z_mod^m + z_b^m),
- ``batch_corrected``: dec_m(z_PoE + z_mod^m),
- ``translated_from_<n>``: dec_m(z_s^n + mean z_b^m of the cell's sample)
  for every other modality ``n`` (not for MIMA-Unimodal),

no ``X``, the global ``obs`` with the model's batch column, and
``uns['status']`` (:mod:`mima.status`). :func:`compute_block` computes every
layer of a block of cells from one encoding pass; :func:`write_outputs`
reads the input a block of cells at a time (:class:`~mima.data.h5mu_rows.H5muRows`),
so its memory is bounded by ``memory_mb`` whatever the number of cells, and
writes the block's rows into chunked HDF5 datasets
(:mod:`mima.data.h5_layers`). :meth:`mima.api.MIMA.outputs` (in memory)
runs the same :func:`compute_block` over all cells.

Size on disk: cells × Σ_m features_m × layers_m × 4 bytes (the study's
multiome set: 69,249 × (13,431 + 40,110) × 3 × 4 B ≈ 44.5 GB; CITE:
90,261 × (13,953 + 134) × 3 × 4 B ≈ 15.3 GB), plus the cell and feature
names.

Reading it without loading it: ``h5py.File(path)['mod/rna/layers/denoised']``
is an on-disk array; slice rows (``[start:stop]``) or use
:class:`mima.data.h5_layers.LayerRows` (``.blocks(rows, columns)``).
``mudata.read_h5mu(path)`` loads everything.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from .data.h5_layers import rows_per_block, write_h5mu_in_chunks
from .data.h5mu_rows import H5muRows
from .errors import InputError
from .status import failed_outputs, mark_ok
from .train.data import PairedArrays, minibatch_rows

log = logging.getLogger(__name__)

#: default memory for one block's outputs (the process adds torch, the model and the input's index)
DEFAULT_MEMORY_MB = 512
#: cells per forward pass (at most)
BATCH_SIZE = 1024


def layer_names(model) -> dict[str, list[str]]:
    """``{modality: [layer, ...]}`` of the outputs of ``model``."""
    names = {}
    for m in model.modalities:
        layers = ["denoised", "batch_corrected"]
        if model.config.shared:
            layers += [f"translated_from_{n}" for n in model.modalities if n != m]
        names[m] = layers
    return names


@torch.no_grad()
def compute_block(model, data: PairedArrays, layers: dict[str, list[str]] | None = None, rows=None,
                  batch_size: int = BATCH_SIZE) -> dict[str, dict[str, np.ndarray]]:
    """Output layers of some cells, from one encoding pass per minibatch.

    Parameters
    ----------
    model
        A :class:`mima.api.MIMA`.
    data
        The model's input (:meth:`mima.api.MIMA.arrays`); every modality of
        the model must be present.
    layers
        ``{modality: [layer, ...]}`` to compute (default :func:`layer_names`).
    rows
        Cells of ``data`` (default all), in the order of the result.
    batch_size
        Cells per forward pass.

    Returns
    -------
    dict
        ``{modality: {layer: cells × features float32}}``.
    """
    layers = layer_names(model) if layers is None else layers
    missing = [m for m in model.modalities if m not in data.matrices]
    if missing:
        raise InputError("<data>", f"modalities {missing}", "needed for the outputs but absent",
                         "pass data with every modality of the model")
    module = model.module
    device = next(module.parameters()).device
    module.eval()
    rows = np.arange(data.n_cells) if rows is None else np.asarray(rows)
    pieces = {m: {name: [] for name in names} for m, names in layers.items()}
    for batch_rows in minibatch_rows(rows, batch_size):
        x, batch_index, present = data.minibatch(batch_rows, device)
        posteriors, poe = module.encode(x, batch_index, {m: p.bool() for m, p in present.items()})
        for m, names in layers.items():
            post = posteriors[m]
            base = (poe[0] if poe is not None else torch.zeros_like(post["private"][0])) + post["private"][0]
            for name in names:
                if name == "denoised":
                    value = module.decode(m, base + post["batch"][0])
                elif name == "batch_corrected":
                    value = module.decode(m, base)
                elif name.startswith("translated_from_"):
                    source = name.removeprefix("translated_from_")
                    z_batch = module.batch_latent_mean[model.modalities.index(m)][batch_index]
                    value = module.decode(m, posteriors[source]["shared"][0] + z_batch)
                else:
                    raise ValueError(f"unknown output layer {name!r}")
                pieces[m][name].append(value.float().cpu().numpy())
    width = {c.name: c.n_features for c in model.config.modalities}
    return {m: {name: np.concatenate(parts) if parts else np.zeros((0, width[m]), np.float32)
                for name, parts in names.items()} for m, names in pieces.items()}


def bytes_per_cell(model, layers: dict[str, list[str]]) -> int:
    """Memory one cell of a block costs: its outputs, plus the widest
    decoder output twice (the activation's temporary and, off the CPU, the
    host copy) and its dense input (densified off the CPU)."""
    widths = {m.name: m.n_features for m in model.config.modalities}
    outputs = sum(widths[m] * len(names) for m, names in layers.items())
    return 4 * (outputs + 2 * max(widths.values()) + sum(widths.values()))


def block_cells(model, layers: dict[str, list[str]], memory_mb: float = DEFAULT_MEMORY_MB,
                batch_size: int = BATCH_SIZE) -> tuple[int, int]:
    """Cells per block and per forward pass within ``memory_mb``.

    Returns
    -------
    block, batch : int
        The block is a multiple of the batch, so block boundaries fall on
        minibatch boundaries of an in-memory run with the same batch size.
    """
    fit = rows_per_block(bytes_per_cell(model, layers), int(memory_mb * 2**20))
    batch = min(batch_size, fit)
    return rows_per_block(bytes_per_cell(model, layers), int(memory_mb * 2**20), multiple=batch), batch


def block_sizes(model, layers: dict[str, list[str]], memory_mb: float = DEFAULT_MEMORY_MB,
                block: int | None = None, batch_size: int | None = None) -> tuple[int, int]:
    """Cells per block and per forward pass: :func:`block_cells` within
    ``memory_mb``, or the given ``block`` / ``batch_size`` (the block then
    rounded down to a multiple of the batch, at least one batch)."""
    auto_block, auto_batch = block_cells(model, layers, memory_mb)
    batch = batch_size or (min(auto_batch, block) if block else auto_batch)
    return (max(batch, block - block % batch) if block else auto_block), batch


class ModelInput:
    """The model's input read from an ``.h5mu`` a block of cells at a time.

    Checks once what :meth:`mima.api.MIMA.arrays` checks (batch column,
    samples, features); :meth:`block` gives a
    :class:`~mima.train.data.PairedArrays` of some cells.
    """

    def __init__(self, model, reader: H5muRows, source: str = "<data>"):
        self.model, self.reader = model, reader
        self.codes = model.batch_codes(reader.obs, source)
        self.positions = {}
        n = reader.n_obs
        for m in model.modalities:
            if m not in reader.mod:
                raise InputError(source, f"modality '{m}'", "needed for the outputs but absent",
                                 "pass data with every modality of the model")
            model.check_features(m, reader.var(m).index, source)
            cells = reader.mod_obs(m).index
            if cells.equals(reader.obs_names):
                self.positions[m] = None
            else:  # position of each global cell in the modality, -1 where it lacks it
                where = np.full(n, -1, dtype=np.int64)
                found = reader.obs_names.get_indexer(cells)
                where[found[found >= 0]] = np.flatnonzero(found >= 0)
                self.positions[m] = where

    def block(self, rows: np.ndarray) -> PairedArrays:
        """The model's input for global cells ``rows`` (increasing)."""
        layer = self.model.layer or "X"
        matrices, present = {}, {}
        for m in self.model.modalities:
            if self.positions[m] is None:
                matrices[m] = self.reader.rows(m, rows, layer)
                continue
            local = self.positions[m][rows]
            has = local >= 0
            order = np.argsort(local[has], kind="stable")
            values = self.reader.rows(m, local[has][order], layer)
            into = np.flatnonzero(has)[order]
            placement = sp.csr_matrix((np.ones(into.size, np.float32), (into, np.arange(into.size))),
                                      shape=(rows.size, into.size))
            placed = placement @ sp.csr_matrix(values, dtype=np.float32)
            matrices[m] = placed if sp.issparse(values) else placed.toarray()
            present[m] = has
        return PairedArrays(matrices, self.codes[rows], present)


def outputs_skeleton(model, obs: pd.DataFrame):
    """The MuData of the outputs without their layers (cells, features,
    batch column, ``uns['status'] = 'ok'``)."""
    import anndata as ad
    import mudata as md

    mods = {m: ad.AnnData(obs=pd.DataFrame(index=obs.index.copy()),
                          var=pd.DataFrame(index=pd.Index(model.feature_names[m]))) for m in model.modalities}
    with md.set_options(pull_on_update=False):
        out = md.MuData(mods)
    out.obs[model.batch_key] = obs[model.batch_key].values
    mark_ok(out)
    return out


def write_outputs(model, data_path: str | os.PathLike, out_path: str | os.PathLike,
                  memory_mb: float = DEFAULT_MEMORY_MB, block: int | None = None, batch_size: int | None = None):
    """Compute the outputs of every cell of ``data_path`` and write
    ``out_path`` (see the module docstring), a block of cells at a time.

    Parameters
    ----------
    model
        A trained :class:`mima.api.MIMA`.
    data_path
        ``.h5mu`` with the model's modalities and batch column (the prepared
        dataset); only the blocks' rows of each modality's input are read.
    out_path
        Destination ``.h5mu``, written atomically.
    memory_mb
        Memory for one block's outputs; sets the block size (:func:`block_cells`).
    block, batch_size
        Cells per block and per forward pass, overriding ``memory_mb``
        (``block`` is rounded down to a multiple of ``batch_size``).
    """
    layers = layer_names(model)
    block, batch = block_sizes(model, layers, memory_mb, block, batch_size)
    source = str(data_path)
    with H5muRows(data_path) as reader:
        model_input = ModelInput(model, reader, source)  # checks the batch column, samples and features
        n = reader.n_obs
        log.info("outputs of %d cells in blocks of %d (forward passes of %d)", n, block, batch)

        def blocks():
            for start in range(0, n, block):
                rows = np.arange(start, min(start + block, n))
                yield start, rows[-1] + 1, compute_block(model, model_input.block(rows), layers, batch_size=batch)

        widths = {m: len(model.feature_names[m]) for m in layers}
        spec = {m: {name: widths[m] for name in names} for m, names in layers.items()}
        return write_h5mu_in_chunks(outputs_skeleton(model, reader.obs), out_path, spec, blocks(), n_rows=n)


def failed_outputs_from_file(data_path: str | os.PathLike, why: str, rows=None):
    """:func:`mima.status.failed_outputs` of an ``.h5mu`` read without its
    matrices (the same modalities and cells, no features)."""
    import anndata as ad
    import mudata as md

    with H5muRows(data_path) as reader:
        with md.set_options(pull_on_update=False):
            shell = md.MuData({m: ad.AnnData(obs=reader.mod_obs(m), var=reader.var(m)) for m in reader.mod})
        shell.obs = reader.obs
    return failed_outputs(shell, why, rows=rows)
