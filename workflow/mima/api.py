"""User-facing MIMA model: set up from data, train, embed, reconstruct,
translate, save and load.

This layer turns AnnData/MuData into arrays and back; the torch module
(:mod:`mima.model`) and the training loop (:mod:`mima.train`) know nothing
of AnnData.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from . import __version__
from .data.atomic_write import default_mode
from .errors import InputError, one_line
from .model.config import ModalityConfig, ModelConfig
from .model.module import MIMAModule
from .status import write_failure
from .train.config import TrainConfig
from .train.data import PairedArrays, minibatch_rows
from .train.device import resolve_device
from .train.trainer import TrainingResult, load_weights, train_module

WEIGHTS_FILE = "model.pt"
SETTINGS_FILE = "model.json"
HISTORY_FILE = "history.tsv"


def _modality_matrix(mdata, modality: str, layer: str | None, source: str):
    adata = mdata.mod[modality]
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        raise InputError(source, f"mod['{modality}'].layers['{layer}']", "layer not found",
                         f"use one of {sorted(adata.layers)} or leave the layer unset to use X")
    return adata.layers[layer]


def _aligned_rows(matrix, modality_cells: pd.Index, all_cells: pd.Index):
    """Place a modality's rows at its cells' positions among all cells
    (zero rows where a cell lacks the modality); sparse stays sparse."""
    if modality_cells.equals(all_cells):
        return matrix, np.ones(len(all_cells), dtype=bool)
    positions = all_cells.get_indexer(modality_cells)
    present = np.zeros(len(all_cells), dtype=bool)
    present[positions] = True
    placement = sp.csr_matrix(
        (np.ones(len(positions), dtype=np.float32), (positions, np.arange(len(positions)))),
        shape=(len(all_cells), len(positions)),
    )
    placed = placement @ sp.csr_matrix(matrix, dtype=np.float32)
    return (placed if sp.issparse(matrix) else placed.toarray()), present


class MIMA:
    """MIMA model on named modalities of a MuData.

    Build one with :meth:`setup` (new), :meth:`from_settings` (new and
    trained, from a settings block) or :meth:`load` (saved).

    Parameters
    ----------
    config
        Architecture and loss settings.
    batch_categories
        Sample names, in the order of the batch-head blocks.
    feature_names
        Feature names per modality (checked at inference).
    batch_key
        Column of ``mdata.obs`` holding the sample.
    layer
        Layer used as input (``None``: ``X``).
    seed
        Seed of the weights' initialisation.
    """

    def __init__(self, config: ModelConfig, batch_categories: list[str], feature_names: dict[str, list[str]],
                 batch_key: str = "batch", layer: str | None = None, seed: int = 0):
        self.config = config
        self.batch_categories = [str(b) for b in batch_categories]
        self.feature_names = {m: [str(f) for f in names] for m, names in feature_names.items()}
        self.batch_key = batch_key
        self.layer = layer
        self.seed = seed
        torch.manual_seed(seed)
        self.module = MIMAModule(config)
        self.training_result: TrainingResult | None = None
        self.history: dict[str, list[float]] = {}
        self.train_settings: dict = {}

    @property
    def modalities(self) -> list[str]:
        """Modality names in model order."""
        return self.config.names

    @classmethod
    def setup(cls, mdata, modalities: list[str], batch_key: str = "batch", layer: str | None = None,
              model_params: dict | None = None, modality_params: dict | None = None, seed: int = 0,
              source: str = "<data>") -> "MIMA":
        """Build an untrained model for ``mdata``.

        Parameters
        ----------
        mdata
            MuData holding the modalities and ``obs[batch_key]``.
        modalities
            Names of the modalities to model (one with ``shared: False`` in
            ``model_params`` gives MIMA-Unimodal).
        batch_key
            Global obs column with the sample of each cell.
        layer
            Input layer; ``None`` uses each modality's ``X``.
        model_params
            Keyword arguments of :class:`~mima.model.config.ModelConfig`
            other than ``modalities`` and ``n_batches``.
        modality_params
            ``{modality: {hidden, beta, output_activation}}`` overrides.
        seed
            Seed of the weights.
        source
            File name used in error messages.
        """
        for m in modalities:
            if m not in mdata.mod:
                raise InputError(source, f"modality '{m}'", "not in the data",
                                 f"use one of {sorted(mdata.mod)} or fix the modality list")
        if batch_key not in mdata.obs:
            raise InputError(source, f"obs['{batch_key}']", "batch column not found",
                             f"add the column or set batch_key to one of {list(mdata.obs.columns)[:10]}")
        modality_params = modality_params or {}
        modality_configs = [
            ModalityConfig(name=m, n_features=mdata.mod[m].n_vars, **modality_params.get(m, {}))
            for m in modalities
        ]
        batch = mdata.obs[batch_key]
        present = set(batch.astype(str))
        ordered = batch.cat.categories if isinstance(batch.dtype, pd.CategoricalDtype) else sorted(present)
        categories = [str(c) for c in ordered if str(c) in present]
        config = ModelConfig(modalities=modality_configs, n_batches=len(categories), **(model_params or {}))
        features = {m: list(mdata.mod[m].var_names) for m in modalities}
        return cls(config, categories, features, batch_key=batch_key, layer=layer, seed=seed)

    @classmethod
    def from_settings(cls, mdata, modalities: list[str], settings: dict | None, batch_key: str = "batch",
                      layer: str | None = None, model_overrides: dict | None = None,
                      train_overrides: dict | None = None, checkpoint_dir: str | os.PathLike | None = None,
                      source: str = "<data>") -> "MIMA":
        """Build a model from a settings block and train it on ``mdata``.

        The settings block is what ``config.yaml``'s ``mima:`` section (or
        the YAML of ``mima train --config``) holds: ``{model: ...,
        modalities: ..., train: ...}``.

        Parameters
        ----------
        mdata
            MuData holding the modalities and ``obs[batch_key]``; the model
            is set up from it and trained on all of its cells (with the
            seeded validation split).
        modalities
            Names of the modalities to model, in order.
        settings
            ``model``: keyword arguments of
            :class:`~mima.model.config.ModelConfig` other than
            ``modalities`` and ``n_batches``; ``modalities``:
            ``{modality: {hidden, beta, output_activation}}`` overrides;
            ``train``: keyword arguments of
            :class:`~mima.train.config.TrainConfig`. A missing or empty
            section (or ``None`` for the whole block) leaves the defaults.
        batch_key
            Global obs column with the sample of each cell.
        layer
            Input layer; ``None`` uses each modality's ``X``.
        model_overrides
            Entries that replace those of ``settings['model']`` (e.g.
            ``{'shared': False}`` for MIMA-Unimodal).
        train_overrides
            Entries that replace those of ``settings['train']`` (e.g.
            ``seed``, ``num_threads``, ``progress``).
        checkpoint_dir
            Per-epoch checkpoints; an interrupted run resumes from here
            (``None``: no checkpoints).
        source
            File name used in error messages.

        Returns
        -------
        MIMA
            The trained model; :attr:`training_result` holds what the run
            produced besides the weights.

        Notes
        -----
        One seed, the ``train`` section's ``seed`` after the overrides
        (default 0), seeds both the weights (:meth:`setup`) and training
        (split, shuffling, dropout).
        """
        settings = settings or {}
        model_params = {**(settings.get("model") or {}), **(model_overrides or {})}
        train = {**(settings.get("train") or {}), **(train_overrides or {})}
        model = cls.setup(mdata, modalities, batch_key=batch_key, layer=layer, model_params=model_params,
                          modality_params=settings.get("modalities"), seed=int(train.get("seed", 0)), source=source)
        model.train(mdata, train, checkpoint_dir=checkpoint_dir, source=source)
        return model

    def batch_codes(self, obs: pd.DataFrame, source: str = "<data>") -> np.ndarray:
        """Index of each cell's sample among the training samples (checked)."""
        if self.batch_key not in obs:
            raise InputError(source, f"obs['{self.batch_key}']", "batch column not found",
                             "add the sample column the model was trained with")
        samples = obs[self.batch_key].astype(str)
        codes = pd.Index(self.batch_categories).get_indexer(samples)
        if (codes < 0).any():
            unknown = sorted(set(samples[codes < 0]))[:5]
            raise InputError(source, f"obs['{self.batch_key}']",
                             f"samples {unknown} were not seen in training (the batch latent has one block per training sample)",
                             "train on data that includes these samples")
        return codes

    def check_features(self, modality: str, var_names, source: str = "<data>") -> None:
        """Raise unless ``var_names`` are the features the model was trained on, in order."""
        if list(map(str, var_names)) != self.feature_names[modality]:
            raise InputError(source, f"mod['{modality}'].var_names",
                             "features differ from the ones the model was trained on",
                             "subset and order the features as in training")

    def arrays(self, mdata, source: str = "<data>") -> PairedArrays:
        """The model's view of ``mdata``: aligned matrices, sample codes and
        presence masks (cells may lack a modality, which the product of
        experts then leaves out)."""
        codes = self.batch_codes(mdata.obs, source)
        matrices, present = {}, {}
        for m in self.modalities:
            if m not in mdata.mod:
                continue
            self.check_features(m, mdata.mod[m].var_names, source)
            matrix = _modality_matrix(mdata, m, self.layer, source)
            matrices[m], present[m] = _aligned_rows(matrix, mdata.mod[m].obs_names, mdata.obs_names)
        if not matrices:
            raise InputError(source, "modalities", f"none of the model's modalities {self.modalities} is in the data",
                             "pass data with at least one of them")
        return PairedArrays(matrices, codes, present)

    def train(self, mdata, train_config: TrainConfig | dict | None = None, checkpoint_dir: str | os.PathLike | None = None,
              source: str = "<data>") -> TrainingResult:
        """Train on every cell of ``mdata`` (with the seeded validation split).

        ``checkpoint_dir`` enables per-epoch checkpoints and resume.
        """
        if not isinstance(train_config, TrainConfig):
            train_config = TrainConfig(**(train_config or {}))
        data = self.arrays(mdata, source)
        missing = [m for m in self.modalities if m not in data.matrices]
        if missing:
            raise InputError(source, f"modalities {missing}", "needed for training but absent",
                             "train on data with every modality of the model")
        self.training_result = train_module(self.module, data, train_config, checkpoint_dir)
        self.history = self.training_result.history
        self.train_settings = train_config.to_dict()
        return self.training_result

    @torch.no_grad()
    def _predict(self, data: PairedArrays, collect, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Run ``collect(posteriors, poe, x, batch_index, present)`` over
        chunks of cells in eval mode and stack what it returns."""
        device = next(self.module.parameters()).device
        self.module.eval()
        pieces: dict[str, list[np.ndarray]] = {}
        for rows in minibatch_rows(np.arange(data.n_cells), batch_size):
            x, batch_index, present = data.minibatch(rows, device)
            posteriors, poe = self.module.encode(x, batch_index, {m: p.bool() for m, p in present.items()})
            for name, value in collect(posteriors, poe, x, batch_index, present).items():
                pieces.setdefault(name, []).append(value.float().cpu().numpy())
        return {name: np.concatenate(parts) for name, parts in pieces.items()}

    def get_latent(self, mdata, include_shared: bool = False, source: str = "<data>") -> dict[str, np.ndarray]:
        """Posterior means of the latents.

        Returns
        -------
        dict
            ``poe`` (the shared product of experts), ``private_<m>`` and
            ``batch_<m>`` (the block of the cell's sample) per modality, and
            ``shared_<m>`` when ``include_shared``. MIMA-Unimodal has no
            ``poe``.
        """
        def collect(posteriors, poe, x, batch_index, present):
            out = {}
            if poe is not None:
                out["poe"] = poe[0]
            for m, post in posteriors.items():
                out[f"private_{m}"] = post["private"][0]
                out[f"batch_{m}"] = post["batch"][0]
                if include_shared and "shared" in post:
                    out[f"shared_{m}"] = post["shared"][0]
            return out
        return self._predict(self.arrays(mdata, source), collect)

    def _shared_or_private(self, posteriors, poe, m):
        return poe[0] if poe is not None else torch.zeros_like(posteriors[m]["private"][0])

    def reconstruct(self, mdata, kind: str = "denoised", source: str = "<data>") -> dict[str, np.ndarray]:
        """Reconstructions of every modality present.

        Parameters
        ----------
        kind
            ``denoised``: dec_m(z_PoE + z_mod^m + z_b^m); ``batch_corrected``:
            dec_m(z_PoE + z_mod^m). (MIMA-Unimodal: without z_PoE.)
        """
        if kind not in ("denoised", "batch_corrected"):
            raise ValueError(f"kind must be 'denoised' or 'batch_corrected', got {kind!r}")

        def collect(posteriors, poe, x, batch_index, present):
            out = {}
            for m, post in posteriors.items():
                z = self._shared_or_private(posteriors, poe, m) + post["private"][0]
                if kind == "denoised":
                    z = z + post["batch"][0]
                out[m] = self.module.decode(m, z)
            return out
        return self._predict(self.arrays(mdata, source), collect)

    def translate(self, mdata, source_modality: str, target_modality: str, target_batch: str = "mean",
                  source: str = "<data>") -> np.ndarray:
        """Translation ``source_modality`` → ``target_modality``:
        dec_target(z_s^source + z_b^target).

        Parameters
        ----------
        target_batch
            ``mean``: z_b^target is the cell's sample's mean batch latent over
            the training cells (never reads the target's data; use it to score
            translation). ``encode``: the posterior mean from the target's own
            data where the cell has it, the sample mean elsewhere.
        """
        if not self.config.shared:
            raise ValueError("MIMA-Unimodal has no shared latent, so it cannot translate")
        for m in (source_modality, target_modality):
            if m not in self.modalities:
                raise InputError(source, f"modality '{m}'", "not a modality of the model", f"use one of {self.modalities}")
        if target_batch not in ("mean", "encode"):
            raise ValueError(f"target_batch must be 'mean' or 'encode', got {target_batch!r}")
        target_index = self.modalities.index(target_modality)
        data = self.arrays(mdata, source)
        if source_modality not in data.matrices:
            raise InputError(source, f"modality '{source_modality}'", "source modality absent", "pass data that has it")
        if target_batch == "mean":
            data.matrices.pop(target_modality, None)
            data.present.pop(target_modality, None)

        def collect(posteriors, poe, x, batch_index, present):
            z_batch = self.module.batch_latent_mean[target_index][batch_index]
            if target_modality in posteriors:
                has_target = present[target_modality].bool().unsqueeze(-1)
                z_batch = torch.where(has_target, posteriors[target_modality]["batch"][0], z_batch)
            return {"out": self.module.decode(target_modality, posteriors[source_modality]["shared"][0] + z_batch)}
        return self._predict(data, collect)["out"]

    def outputs(self, mdata, source: str = "<data>", batch_size: int = 1024):
        """MuData of the model's outputs (DESIGN §2), in memory: per
        modality, layers ``denoised``, ``batch_corrected`` and
        ``translated_from_<n>`` (see :mod:`mima.outputs`).

        For data of any size write them with :meth:`write_outputs`, which
        runs the same computation a block of cells at a time.
        """
        from .outputs import compute_block, outputs_skeleton

        out = outputs_skeleton(self, mdata.obs)
        out.uns.pop("status", None)
        values = compute_block(self, self.arrays(mdata, source), batch_size=batch_size)
        for m, layers in values.items():
            for name, value in layers.items():
                out.mod[m].layers[name] = value
        return out

    def write_outputs(self, data_path: str | os.PathLike, out_path: str | os.PathLike, memory_mb: float = 512,
                      block: int | None = None, batch_size: int | None = None) -> Path:
        """Write the outputs of every cell of the ``.h5mu`` ``data_path`` to
        ``out_path`` a block of cells at a time, in bounded memory
        (:func:`mima.outputs.write_outputs`; ``uns['status'] = 'ok'``)."""
        from .outputs import write_outputs

        return write_outputs(self, data_path, out_path, memory_mb=memory_mb, block=block, batch_size=batch_size)

    def to(self, device: str = "auto") -> "MIMA":
        """Move the model to ``device`` (``auto``: CUDA when present)."""
        self.module.to(resolve_device(device))
        return self

    def settings(self) -> dict:
        """Everything but the weights, as plain JSON types."""
        return {
            "mima_version": __version__, "model": self.config.to_dict(),
            "batch_key": self.batch_key, "batch_categories": self.batch_categories,
            "layer": self.layer, "seed": self.seed, "feature_names": self.feature_names,
            "train": self.train_settings,
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``model.pt`` (state dict), ``model.json`` (settings) and
        ``history.tsv`` into ``directory``, replacing it atomically."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            state = {k: v.detach().cpu() for k, v in self.module.state_dict().items()}
            torch.save(state, tmp / WEIGHTS_FILE)
            (tmp / SETTINGS_FILE).write_text(json.dumps(self.settings(), indent=1))
            pd.DataFrame(self.history).rename_axis("epoch").to_csv(tmp / HISTORY_FILE, sep="\t")
            os.chmod(tmp, default_mode(folder=True))  # mkdtemp's folder is private
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str = "auto") -> "MIMA":
        """Load a model written by :meth:`save` (weights with ``weights_only=True``)."""
        directory = Path(directory)
        for name in (WEIGHTS_FILE, SETTINGS_FILE):
            if not (directory / name).exists():
                raise InputError(str(directory), name, "missing from the model folder", "train the model again (mima train)")
        settings = json.loads((directory / SETTINGS_FILE).read_text())
        model = cls(ModelConfig.from_dict(settings["model"]), settings["batch_categories"], settings["feature_names"],
                    batch_key=settings["batch_key"], layer=settings["layer"], seed=settings["seed"])
        state = load_weights(directory / WEIGHTS_FILE, "cpu", "train the model again (mima train)")
        model.module.load_state_dict(state)
        model.train_settings = settings.get("train", {})
        history_path = directory / HISTORY_FILE
        if history_path.exists() and history_path.stat().st_size > 1:
            frame = pd.read_csv(history_path, sep="\t", index_col=0)
            model.history = {c: frame[c].tolist() for c in frame.columns}
        return model.to(device)


def train_or_record_failure(mdata, modalities: list[str], settings: dict, directory: str | os.PathLike,
                            threads: int | None = None, checkpoint_dir: str | os.PathLike | None = None,
                            source: str = "<data>") -> TrainingResult | None:
    """Train MIMA with a dataset's ``mima`` settings (``model``,
    ``modalities``, ``train``; :meth:`MIMA.from_settings`, on ``threads``
    torch threads without a progress bar) and save it to ``directory``; a failure is
    logged and recorded there instead (:func:`write_failure`), so the other
    methods' results and the tables are still built.

    Returns
    -------
    TrainingResult or None
        ``None`` when training failed.
    """
    import logging
    import traceback

    try:
        model = MIMA.from_settings(mdata, modalities, settings, train_overrides={"num_threads": threads, "progress": False},
                                   checkpoint_dir=checkpoint_dir, source=source)
    except Exception as error:  # failure isolation; the traceback stays in the log
        logging.getLogger(__name__).error("MIMA training failed:\n%s", traceback.format_exc())
        write_failure(directory, one_line(error))
        return None
    model.save(directory)
    return model.training_result
