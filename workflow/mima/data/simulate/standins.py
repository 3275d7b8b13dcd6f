"""Write the study stand-ins in the layout a data mirror serves them from.

:func:`write_standins` writes, under one folder::

    geo/GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad.gz
    geo/GSE194122_openproblems_neurips2021_multiome_BMMC_processed.h5ad.gz
    geo/checksums.lock.tsv          # filename<TAB>sha256, the pipeline's lock format
    zenodo/17369670/rna.h5ad, msi.h5ad, morphology.h5ad
    zenodo/17369670/record.json     # Zenodo REST API shape: id, files (key, size, md5 checksum, links)

i.e. the published files, which the pipeline's readers (``_read_geo`` /
``_read_zenodo`` in :mod:`mima.data.assemble`) read unchanged. Every file is
written to a temporary file beside it and renamed into place; the gzip header
carries no timestamp, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..atomic_write import write_h5ad_atomic, write_text_atomic
from ..checksum_lock import set_sha256
from ..download import file_digests
from .study import STUDY_DATASETS, simulate_neurips_cite, simulate_neurips_multiome
from .study_spatial import simulate_pca_spatial

#: Published GEO file of each GEO dataset (the name config.yaml's URL ends with).
GEO_FILES = {
    "neurips_cite": "GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad.gz",
    "neurips_multiome": "GSE194122_openproblems_neurips2021_multiome_BMMC_processed.h5ad.gz",
}
ZENODO_RECORD = 17369670
ZENODO_FILES = {"rna": "rna.h5ad", "msi": "msi.h5ad", "morphology": "morphology.h5ad"}
LOCK_NAME = "checksums.lock.tsv"
#: gzip level of the GEO files: 1 compresses these float32 matrices nearly as well as 6, several times faster.
GZIP_LEVEL = 1
_BLOCK = 1 << 24


def write_standins(out_dir, datasets: Sequence[str] | None = None, scale: float = 1.0, feature_scale: float = 1.0,
                   seed: int = 0) -> dict[str, list[Path]]:
    """Write stand-ins of the study's datasets in the mirror layout (module docstring).

    Parameters
    ----------
    out_dir
        The mirror folder (created if missing).
    datasets
        Any of :data:`~mima.data.simulate.study.STUDY_DATASETS` (default: all three),
        written one after the other.
    scale, feature_scale
        Fractions of the published cells and features
        (:func:`~mima.data.simulate.study.planned_shapes`).
    seed
        The same seed gives byte-identical files.

    Returns
    -------
    dict
        ``{dataset: [paths written]}``; the GEO lock file and ``record.json`` included.
    """
    datasets = list(STUDY_DATASETS if datasets is None else datasets)
    unknown = [d for d in datasets if d not in STUDY_DATASETS]
    if unknown:
        raise ValueError(f"unknown study datasets {unknown}; use any of {STUDY_DATASETS}")
    return {d: write_standin(out_dir, d, scale, feature_scale, seed) for d in dict.fromkeys(datasets)}


def write_standin(out_dir, dataset: str, scale: float = 1.0, feature_scale: float = 1.0, seed: int = 0) -> list[Path]:
    """Write one dataset's stand-in (see :func:`write_standins`).

    A GEO dataset writes its ``.h5ad.gz`` and sets its line of ``geo/checksums.lock.tsv``
    (other lines are kept); ``pca_spatial`` writes the record's three h5ad and ``record.json``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out_dir = Path(out_dir)
    if dataset in GEO_FILES:
        simulate = simulate_neurips_cite if dataset == "neurips_cite" else simulate_neurips_multiome
        adata = simulate(scale, feature_scale, seed)
        path = out_dir / "geo" / GEO_FILES[dataset]
        _write_h5ad_gz(adata, path)
        del adata
        lock = out_dir / "geo" / LOCK_NAME
        set_sha256(lock, path.name, file_digests(path, ["sha256"])["sha256"])
        return [path, lock]
    if dataset != "pca_spatial":
        raise ValueError(f"unknown study dataset {dataset!r}; use one of {STUDY_DATASETS}")
    folder = out_dir / "zenodo" / str(ZENODO_RECORD)
    paths = []
    for modality, adata in simulate_pca_spatial(scale, feature_scale, seed).items():
        paths.append(folder / ZENODO_FILES[modality])
        write_h5ad_atomic(adata, paths[-1])
        os.chmod(paths[-1], 0o644)
    record = {"id": ZENODO_RECORD, "files": [
        {"key": p.name, "size": p.stat().st_size, "checksum": f"md5:{file_digests(p, ['md5'])['md5']}",
         "links": {"self": f"https://zenodo.org/api/records/{ZENODO_RECORD}/files/{p.name}/content"}}
        for p in sorted(paths, key=lambda p: p.name)]}
    write_text_atomic(folder / "record.json", json.dumps(record, indent=2) + "\n")
    return paths + [folder / "record.json"]


def _write_h5ad_gz(adata, path: Path) -> None:
    """``adata`` as h5ad, gzip-compressed into ``path`` (header: inner file name, mtime 0), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
        plain = Path(tmp) / path.name.removesuffix(".gz")
        write_h5ad_atomic(adata, plain)
        packed = Path(tmp) / path.name
        with open(plain, "rb") as source, open(packed, "wb") as raw, \
                gzip.GzipFile(filename=plain.name, mode="wb", compresslevel=GZIP_LEVEL, fileobj=raw, mtime=0) as out:
            shutil.copyfileobj(source, out, length=_BLOCK)
        os.replace(packed, path)
