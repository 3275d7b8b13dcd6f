"""Raw datasets: one MuData per configured dataset, whatever its source
(simulator, a user's files, downloaded files, GEO, Zenodo).

The result has the global ``obs['batch']`` (and ``obs['label']`` where
annotations exist), the modalities named in the dataset's settings, and raw
values as each source provides them.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import mudata as md

from ..errors import InputError
from .io import assemble_modalities, read_paired

SOURCES = ("simulate", "files", "download", "geo", "zenodo")


def assemble_raw(settings: dict, inputs: dict[str, str]) -> md.MuData:
    """Read or simulate the raw dataset described by ``settings``.

    Parameters
    ----------
    settings
        The dataset's resolved settings (:func:`mima.config.dataset_settings`).
    inputs
        Source files by name: none for ``simulate``; ``{modality: path}``
        for ``files`` and ``download`` (or ``{'h5mu': path}``); ``{'geo':
        path.h5ad.gz}``; ``{'zenodo': download folder}``.

    Returns
    -------
    mudata.MuData
        Read data also carry ``uns['source_files']`` (``{modality: file}``),
        so that errors found later (e.g. in :func:`mima.preprocess.prepare.prepare_dataset`)
        name the user's file.
    """
    kind = settings["source"]
    modalities = list(settings["modalities"])
    keys = {"batch_key": settings.get("batch_key", "batch"), "label_key": settings.get("label_key"),
            "spatial_key": settings.get("spatial_key"), "config_key": f"datasets.{settings['name']}"}
    if kind == "simulate":
        from .simulate import simulate

        params = dict(settings["simulate"])
        mdata = simulate(params.pop("kind"), seed=settings["seed"], **params)
        missing = [m for m in modalities if m not in mdata.mod]
        if missing:
            raise InputError(f"datasets.{settings['name']}", "modalities", f"{missing} are not simulated",
                             f"use modalities of the simulator: {list(mdata.mod)}")
        if list(mdata.mod) != modalities:
            mdata = assemble_modalities({m: mdata.mod[m] for m in modalities}, mdata)
        return mdata
    if "h5mu" in inputs:
        files = dict.fromkeys(modalities, str(inputs["h5mu"]))
        mdata = read_paired(h5mu=inputs["h5mu"], modalities=modalities, **keys)
    elif kind in ("files", "download"):
        files = {m: str(inputs[m]) for m in modalities}
        mdata = read_paired(h5ad=files, modalities=modalities, **keys)
    elif kind == "geo":
        files = dict.fromkeys(modalities, str(inputs["geo"]))
        mdata = _read_geo(Path(inputs["geo"]), modalities, keys)
    elif kind == "zenodo":
        files = {m: str(Path(inputs["zenodo"]) / settings["files"][m]) for m in modalities if m in settings["files"]}
        mdata = _read_zenodo(Path(inputs["zenodo"]), settings, modalities, keys)
    else:
        mdata = None
    if mdata is not None:
        # the user's file of each modality, named by the later steps' error messages
        mdata.uns["source_files"] = files
        return mdata
    raise InputError(f"datasets.{settings['name']}", "source", f"{kind!r} is not a known source", f"use one of {SOURCES}")


def _read_geo(path: Path, modalities: list[str], keys: dict) -> md.MuData:
    """A GSE194122 processed ``.h5ad.gz``: decompressed to a temporary file
    beside it, then split by ``var['feature_types']``."""
    import anndata as ad

    from .geo import split_geo_multimodal
    from .io import read_file_checked, pair_modalities

    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        h5ad = path
        if path.suffix == ".gz":
            h5ad = Path(tmp) / path.name.removesuffix(".gz")
            with gzip.open(path, "rb") as compressed, open(h5ad, "wb") as plain:
                shutil.copyfileobj(compressed, plain, length=1 << 24)
        adata = read_file_checked(h5ad, ad.read_h5ad, "h5ad")
    return pair_modalities(split_geo_multimodal(adata, str(path)), str(path), modalities, **keys)


def _read_zenodo(folder: Path, settings: dict, modalities: list[str], keys: dict) -> md.MuData:
    """One h5ad per modality in the downloaded record, as named in config."""
    files = settings.get("files", {})
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    for m in modalities:
        if m not in files or not (folder / files[m]).exists():
            raise InputError(str(folder), f"files.{m}", f"expected file {files.get(m)!r} is not in the record's download",
                             f"set datasets.{settings['name']}.files.{m} to one of {present}")
    return read_paired(h5ad={m: folder / files[m] for m in modalities}, modalities=modalities, **keys)
