"""Held-out 4CV evaluation of a MIMA model trained on the other folds
(translation 4CV, DESIGN §4).

:func:`heldout_predictions` gives, for every target modality, on the
held-out cells and the target's evaluation features (``var['hvf']``):
``X`` = the true values, layer ``reconstructed`` = the denoised
reconstruction from every modality, and ``translated_from_<n>`` = the
translation from each other modality, which never reads the target (its
batch latent is the sample's mean over the training cells). A fold's
training and held-out cells come from :func:`mima.data.folds.fold_masks`.

What the pipeline keeps of them is small: the **held-out scores**
(``mima/cv/{fold}/heldout_scores.h5mu``; :func:`heldout_scores` in memory,
:func:`write_heldout_scores` a block of cells at a time). Per target
modality ``m`` (an AnnData without ``X``: held-out cells × evaluation
features):

- ``obs['reconstruction_mse']``, ``obs['translation_mse_from_<n>']``: each
  cell's MSE over the evaluation features;
- ``var['<state>_from_<n>']``: the per-feature agreement state of the
  translation from ``n`` over the fold's cells
  (:class:`~mima.evaluate.translation_stream.FeatureAgreement`; the
  translation tables merge the folds' states);

plus the global ``obs`` (``batch``, ``label``) and ``uns['status']``. The
predictions themselves (held-out cells × every evaluation feature × every
layer: 33 GB for the study's multiome ATAC) are never written; the
translation maps recompute the few features they draw from the fold models
(:func:`translations_of_features`).
"""

from __future__ import annotations

import logging
import os

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from ..data.atomic_write import write_h5mu_atomic
from ..data.h5mu_rows import H5muRows
from ..outputs import DEFAULT_MEMORY_MB, ModelInput, block_sizes, compute_block
from ..status import mark_ok
from ..utils import dense
from .translation import per_cell_mse
from .translation_stream import FeatureAgreement

log = logging.getLogger(__name__)

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


class ScoreAccumulator:
    """Held-out scores gathered over blocks of cells (see the module
    docstring): per-cell MSEs and per-feature agreement per target and
    source modality."""

    def __init__(self, widths: dict[str, int]):
        self.widths = dict(widths)
        self.per_cell = {m: {} for m in widths}
        self.agreement = {m: {} for m in widths}

    def add(self, true: dict[str, np.ndarray], predicted: dict[str, dict[str, np.ndarray]]) -> None:
        """Add a block: ``true[m]`` and ``predicted[m][layer]`` (layers
        ``reconstructed``, ``translated_from_<n>``) on the evaluation features."""
        for m, layers in predicted.items():
            for name, values in layers.items():
                column = "reconstruction_mse" if name == "reconstructed" else name.replace(
                    "translated_from_", "translation_mse_from_")
                self.per_cell[m].setdefault(column, []).append(per_cell_mse(true[m], values))
                if name.startswith("translated_from_"):
                    source = name.removeprefix("translated_from_")
                    agreement = self.agreement[m].setdefault(source, FeatureAgreement(self.widths[m]))
                    agreement.update(true[m], values)

    def to_mudata(self, obs: pd.DataFrame, var: dict[str, pd.Index]) -> md.MuData:
        """The scores as the MuData of the module docstring (``uns['status'] = 'ok'``)."""
        out = _skeleton(obs, var)
        for m, columns in self.per_cell.items():
            for column, parts in columns.items():
                out.mod[m].obs[column] = np.concatenate(parts) if parts else np.zeros(0)
            for source, agreement in self.agreement[m].items():
                for column, values in agreement.columns(f"_from_{source}").items():
                    out.mod[m].var[column] = values
        mark_ok(out)
        return out


def heldout_scores(predictions: md.MuData) -> md.MuData:
    """The held-out scores (module docstring) of in-memory predictions.

    Parameters
    ----------
    predictions
        :func:`heldout_predictions` of one fold.
    """
    accumulator = ScoreAccumulator({m: predictions.mod[m].n_vars for m in predictions.mod})
    accumulator.add({m: dense(predictions.mod[m].X, np.float32) for m in predictions.mod},
                    {m: dict(predictions.mod[m].layers) for m in predictions.mod})
    return accumulator.to_mudata(predictions.obs, {m: predictions.mod[m].var_names for m in predictions.mod})


def write_heldout_scores(model, data_path: str | os.PathLike, heldout_mask: np.ndarray,
                         out_path: str | os.PathLike, memory_mb: float = DEFAULT_MEMORY_MB,
                         block: int | None = None) -> None:
    """Compute the held-out scores of the cells ``heldout_mask`` of the
    ``.h5mu`` ``data_path`` a block of cells at a time (memory bounded by
    ``memory_mb`` whatever the number of cells) and write them to
    ``out_path`` atomically.

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
    # per block: the layers, the true values, and the agreement's float64 work arrays (~10 float32 widths)
    block, batch = block_sizes(model, {m: names + ["X"] * 11 for m, names in layers.items()}, memory_mb, block)
    with H5muRows(data_path) as reader:
        model_input = ModelInput(model, reader, str(data_path))
        rows_all = np.flatnonzero(np.asarray(heldout_mask, dtype=bool))
        hvf = {m: reader.var(m)["hvf"].to_numpy(dtype=bool) for m in model.modalities}
        accumulator = ScoreAccumulator({m: int(hvf[m].sum()) for m in model.modalities})
        log.info("held-out scores of %d cells in blocks of %d (forward passes of %d)", rows_all.size, block, batch)
        for start in range(0, rows_all.size, block):
            rows = rows_all[start:start + block]
            values = compute_block(model, model_input.block(rows), layers, batch_size=batch)
            true = {m: dense(reader.rows(m, rows)[:, hvf[m]], np.float32) for m in model.modalities}
            accumulator.add(true, {m: {_rename(n): v[:, hvf[m]] for n, v in named.items()}
                                   for m, named in values.items()})
        scores = accumulator.to_mudata(reader.obs.iloc[rows_all],
                                       {m: reader.var(m).index[hvf[m]] for m in model.modalities})
    write_h5mu_atomic(scores, out_path)


def translations_of_features(models: dict, data_path: str | os.PathLike, fold_of: np.ndarray, rows: np.ndarray,
                             target: str, features) -> dict[str, np.ndarray]:
    """Held-out 4CV translations of a few features of some cells: each cell
    translated by the model of its own fold (never trained on it).

    Parameters
    ----------
    models
        ``{fold: trained MIMA}`` of the 4CV folds.
    data_path
        The prepared dataset (``.h5mu``); only ``rows`` are read.
    fold_of
        The fold of every cell of the dataset.
    rows
        Positions of the cells (increasing).
    target
        The translated modality.
    features
        Names of ``target``'s features to keep.

    Returns
    -------
    dict
        ``{source: len(rows) × len(features) float32}`` for every other modality.
    """
    rows = np.asarray(rows)
    out = {}
    with H5muRows(data_path) as reader:
        for fold, model in sorted(models.items()):
            local = np.flatnonzero(fold_of[rows] == fold)
            if local.size == 0:
                continue
            sources = [m for m in model.modalities if m != target]
            names = pd.Index(model.feature_names[target])
            columns = names.get_indexer(list(features))
            if (columns < 0).any():
                raise ValueError(f"features {list(np.asarray(features)[columns < 0])} are not among {target}'s")
            values = compute_block(model, ModelInput(model, reader, str(data_path)).block(rows[local]),
                                   {target: [f"translated_from_{s}" for s in sources]})
            for s in sources:
                into = out.setdefault(s, np.full((rows.size, len(columns)), np.nan, dtype=np.float32))
                into[local] = values[target][f"translated_from_{s}"][:, columns]
    return out


#: columns of the translation maps' values (:func:`translation_map_values`)
MAP_VALUE_COLUMNS = ["modality", "feature", "sample", "cell", "panel", "value"]


def translation_map_values(models: dict, data_path: str | os.PathLike, fold_of: np.ndarray,
                           entries: list[dict]) -> pd.DataFrame:
    """The values the translation maps draw (DESIGN §5).

    Parameters
    ----------
    models
        ``{fold: trained MIMA}`` of the 4CV folds.
    data_path
        The prepared dataset (``.h5mu``); only the samples' rows are read.
    fold_of
        The fold of every cell of the dataset.
    entries
        ``{modality, feature, sample}`` per map row
        (:func:`mima.figure_choices.choose_features`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MAP_VALUE_COLUMNS`: per entry, every cell of the
        sample (dataset order) with its true value (``panel = input``) and
        its held-out translation from each other modality (``panel = from
        <source>``); NaN where the cell lacks the modality.
    """
    frames = []
    with H5muRows(data_path) as reader:
        batch = reader.obs["batch"].astype(str).to_numpy()
        for entry in entries:
            modality, feature, sample = entry["modality"], entry["feature"], entry["sample"]
            rows = np.flatnonzero(batch == sample)
            column = reader.var(modality).index.get_indexer([feature])
            local = reader.mod_obs(modality).index.get_indexer(reader.obs_names[rows])
            truth = np.full(rows.size, np.nan)
            present = local >= 0
            order = np.argsort(local[present], kind="stable")
            values = dense(reader.rows(modality, local[present][order])[:, column], np.float64).ravel()
            truth[np.flatnonzero(present)[order]] = values
            panels = {"input": truth}
            for source, translated in translations_of_features(models, data_path, fold_of, rows, modality,
                                                               [feature]).items():
                panels[f"from {source}"] = translated[:, 0].astype(np.float64)
            for panel, values in panels.items():
                frames.append(pd.DataFrame({"modality": modality, "feature": feature, "sample": sample,
                                            "cell": np.asarray(reader.obs_names[rows]), "panel": panel,
                                            "value": values}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MAP_VALUE_COLUMNS)
