"""Reader of the NeurIPS 2021 GEO (GSE194122) processed files: one AnnData
holding every feature, split into one AnnData per modality by
``var['feature_types']``.
"""

from __future__ import annotations

import copy

from mima.errors import InputError

__all__ = ["split_geo_multimodal"]

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
