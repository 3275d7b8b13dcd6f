"""The NeurIPS 2021 GEO (GSE194122) processed files: their download
(:func:`fetch_geo`, from a data mirror or GEO, verified against the sha256
lock file) and their reader: one AnnData holding every feature, split into
one AnnData per modality by ``var['feature_types']``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from mima.errors import InputError

from .checksum_lock import read_lock_file
from .download import DownloadError, fetch_from_mirror_or_url

__all__ = ["fetch_geo", "split_geo_multimodal"]

#: The mirror's own lock file of its GEO copies (``<mirror>/geo/checksums.lock.tsv``).
MIRROR_LOCK = "checksums.lock.tsv"


def fetch_geo(url: str, dest: os.PathLike | str, lock_file: os.PathLike | str,
              mirror: os.PathLike | str | None = None, dataset: str = "<name>", timeout: float = 300) -> Path:
    """Fetch a GEO file from ``<mirror>/geo/<name>`` when present, else from ``url``.

    ``<name>`` is ``dest``'s name (the file name of the URL). Either way
    the file goes through :func:`mima.data.download.download`: a ``.part``
    file, verified against ``lock_file``'s sha256 for ``<name>`` (the first
    download records it there) and only then moved to ``dest``. A mirror
    copy listed in the mirror's own ``<mirror>/geo/checksums.lock.tsv`` is
    verified against that entry as well; an entry contradicting
    ``lock_file``'s stops the download before anything is copied.

    Parameters
    ----------
    url
        The file's GEO URL (``datasets.<dataset>.url``).
    dest
        Final path; its name keys both lock files.
    lock_file
        The project's sha256 lock file (``datasets.<dataset>.lock``).
    mirror
        The data mirror folder, or None to download from ``url``.
    dataset
        The dataset's name in config.yaml, for error messages.
    timeout
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    DownloadError
        The transfer failed or a sha256 does not match (nothing is kept).
    """
    dest = Path(dest)
    mirror_dir = Path(mirror) / "geo" if mirror else None
    sha256 = None
    if mirror_dir is not None and (mirror_dir / dest.name).is_file():
        mirror_lock = mirror_dir / MIRROR_LOCK
        sha256 = read_lock_file(mirror_lock).get(dest.name)
        locked = read_lock_file(lock_file).get(dest.name)
        if sha256 and locked and sha256.strip().lower() != locked.strip().lower():
            raise DownloadError(str(mirror_dir / dest.name), dest,
                                f"the mirror's {mirror_lock} lists sha256 {sha256} but {lock_file} records "
                                f"{locked} (the mirror holds another file, e.g. a stand-in)",
                                f"point datasets.{dataset}.lock to {mirror_lock} for the mirror's files, "
                                "or remove the mirror's copy to download the published file")
    return fetch_from_mirror_or_url(dest.name, mirror_dir, url, dest, sha256=sha256, lock_file=lock_file,
                                    timeout=timeout)

#: GEO feature type -> modality name, in the order of the result.
_GEO_MODALITIES = {"GEX": "rna", "ADT": "adt", "ATAC": "atac"}


def split_geo_multimodal(adata, source: str) -> dict:
    """Split a NeurIPS 2021 GEO (GSE194122) processed h5ad into modalities.

    Those files hold every feature in one AnnData, with
    ``var['feature_types']`` in ``{'GEX', 'ADT', 'ATAC'}``.

    Parameters
    ----------
    adata : anndata.AnnData
        The loaded GEO file (in memory).
    source
        File it was read from, for error messages.

    Returns
    -------
    dict of str to anndata.AnnData
        ``rna`` (GEX), ``adt`` (ADT), ``atac`` (ATAC), only for the types
        present, in that order. Each keeps its columns of ``X`` and of every
        layer (``layers['counts']`` included), all of ``obs`` (``batch``,
        ``cell_type``, ...), its ``var`` rows and ``uns``. ``obsm`` entries
        prefixed ``GEX_`` / ``ADT_`` / ``ATAC_`` go only to that modality,
        others to every modality.

    Raises
    ------
    InputError
        ``var['feature_types']`` or ``layers['counts']`` is missing, or a
        feature type is not GEX, ADT or ATAC.
    """
    fix = "pass a processed h5ad of GEO GSE194122 (NeurIPS 2021 multimodal BMMC)"
    if "feature_types" not in adata.var.columns:
        raise InputError(source, "var['feature_types']", "missing, so GEX/ADT/ATAC features cannot be told apart",
                         fix)
    if "counts" not in adata.layers:
        raise InputError(source, "layers['counts']", "missing (raw counts are needed)", fix)
    types = adata.var["feature_types"].astype(str).to_numpy()
    unknown = sorted(set(types) - set(_GEO_MODALITIES))
    if unknown:
        raise InputError(source, "var['feature_types']", f"unknown feature types {unknown}; expected GEX, ADT, ATAC",
                         fix)
    return {
        modality: _modality_subset(adata, types == feature_type, feature_type)
        for feature_type, modality in _GEO_MODALITIES.items()
        if (types == feature_type).any()
    }


def _modality_subset(adata, mask, feature_type: str):
    import anndata as ad

    columns = mask.nonzero()[0]
    prefixes = tuple(f"{other}_" for other in _GEO_MODALITIES if other != feature_type)
    return ad.AnnData(
        X=adata.X[:, columns] if adata.X is not None else None,
        obs=adata.obs.copy(),
        var=adata.var.iloc[columns].copy(),
        layers={key: value[:, columns] for key, value in adata.layers.items()},
        obsm={key: copy.copy(value) for key, value in adata.obsm.items() if not key.startswith(prefixes)},
        uns=copy.deepcopy(dict(adata.uns)),
    )
