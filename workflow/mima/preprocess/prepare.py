"""Raw dataset → prepared dataset (DESIGN §2 contract).

Per modality, ``X`` becomes the model input (float32, sparse kept sparse)
with every feature; ``layers['counts']`` keeps raw counts where they exist;
``var['hvf']`` marks the evaluation features (the HVF selection where the
modality asks for it, every feature otherwise).
"""

from __future__ import annotations

import logging

import anndata as ad
import mudata as md
import numpy as np
import scipy.sparse as sp

from ..data.io import check_modality_shape, validate_training_input
from ..errors import InputError
from .atac import bin_peaks
from .hvf import select_hvf
from .normalize import check_counts, log_normalize

#: Preprocessing methods a modality can name in ``modalities.<m>.preprocess``.
PREPROCESSING_METHODS = ("log_normalize", "atac_bins", "log1p", "as_provided")

log = logging.getLogger(__name__)


def _counts(adata: ad.AnnData, modality: str, source: str):
    counts = adata.layers["counts"] if "counts" in adata.layers else adata.X
    field = f"mod['{modality}'].layers['counts']" if "counts" in adata.layers else f"mod['{modality}'].X"
    check_counts(counts, source, field)
    return counts


def _check_log1p_input(matrix, source: str, field: str) -> None:
    """log1p of a value below 0 is NaN or -inf, or a negative model input: refuse it."""
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    if values.size and values.dtype.kind in "if":
        smallest = values.min()
        if smallest < 0:
            raise InputError(source, field, f"holds negative values (e.g. {smallest!r}), which log1p cannot transform",
                             "give non-negative values, or set this modality's preprocess to as_provided")


def _log1p(matrix):
    if sp.issparse(matrix):
        out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        np.log1p(out.data, out=out.data)
        return out
    return np.log1p(np.asarray(matrix, dtype=np.float32))


def _holds_counts(matrix) -> bool:
    """Whether a matrix holds counts (finite non-negative integers; :func:`check_counts`)."""
    try:
        check_counts(matrix, "", "")
    except InputError:
        return False
    return True


def _float32(matrix):
    if sp.issparse(matrix):
        return sp.csr_matrix(matrix, dtype=np.float32)
    return np.ascontiguousarray(np.asarray(matrix, dtype=np.float32))


def prepare_modality(adata: ad.AnnData, modality: str, method: str, settings: dict, source: str) -> ad.AnnData:
    """One modality's model input.

    Parameters
    ----------
    method
        ``log_normalize`` (counts → total-count normalisation + log1p),
        ``atac_bins`` (peak counts summed into ``atac_bin_size`` bins by peak
        midpoint, then log1p), ``log1p`` (of X) or ``as_provided``.
    settings
        The dataset's ``preprocess`` settings.
    """
    if method == "log_normalize":
        counts = _counts(adata, modality, source)
        out = ad.AnnData(_float32(log_normalize(counts, settings.get("target_sum", 1e4))),
                         obs=adata.obs.copy(), var=adata.var.copy())
        out.layers["counts"] = _float32(counts)
    elif method == "atac_bins":
        counts = _counts(adata, modality, source)
        binned, names = bin_peaks(counts, list(adata.var_names), settings.get("atac_bin_size", 5000), source=source)
        out = ad.AnnData(_log1p(binned), obs=adata.obs.copy())
        out.var_names = names
        out.layers["counts"] = _float32(binned)
    elif method in ("log1p", "as_provided"):
        if method == "log1p":
            _check_log1p_input(adata.X, source, f"mod['{modality}'].X")
        x = _log1p(adata.X) if method == "log1p" else _float32(adata.X)
        out = ad.AnnData(x, obs=adata.obs.copy(), var=adata.var.copy())
        if "counts" in adata.layers:
            out.layers["counts"] = _float32(adata.layers["counts"])
        elif method == "as_provided" and _holds_counts(adata.X):
            out.layers["counts"] = _float32(adata.X)
            log.info("%s: mod['%s'] has no layers['counts'] and its X holds non-negative integers: X is used as "
                     "its counts (count-based methods such as totalVI read them)", source, modality)
    else:
        raise InputError(source, f"modalities.{modality}.preprocess", f"{method!r} is unknown",
                         f"use one of {PREPROCESSING_METHODS}")
    out.obsm = {k: v for k, v in adata.obsm.items()}
    return out


def prepare_dataset(raw: md.MuData, settings: dict, source: str = "<data>") -> md.MuData:
    """The prepared MuData of one dataset.

    Parameters
    ----------
    raw
        The raw dataset (:func:`mima.data.assemble.assemble_raw`).
    settings
        The dataset's resolved settings: ``modalities`` (``preprocess``,
        ``hvf`` per modality), optionally ``modality_order`` (default: the
        order of ``modalities``) and ``preprocess`` (target_sum, atac_bin_size,
        n_top_variance, n_top_mean).
    source
        Name used in error messages.

    Returns
    -------
    mudata.MuData
        The modalities, global ``obs`` (``batch``, ``label`` where annotated,
        and the raw global columns), ``obsm`` (``spatial`` for spatial data,
        simulated ground truth) and ``uns['preprocess']``.
    """
    params = settings.get("preprocess", {})
    sources = source_files(raw, source)
    mods = {}
    for modality in settings.get("modality_order", list(settings["modalities"])):
        modality_settings = settings["modalities"][modality]
        if modality not in raw.mod:
            raise InputError(source, f"modality '{modality}'", "named in config but absent from the data",
                             f"use one of {sorted(raw.mod)}")
        check_modality_shape(raw.mod[modality], modality, sources[modality])
        prepared = prepare_modality(raw.mod[modality], modality, modality_settings.get("preprocess", "as_provided"),
                                    params, sources[modality])
        for notice in zero_notices(prepared, modality, sources[modality]):
            log.warning(notice)
        if modality_settings.get("hvf", False):
            prepared.var["hvf"] = select_hvf(prepared.X, params.get("n_top_variance", 2000), params.get("n_top_mean", 1000))
        else:
            prepared.var["hvf"] = True
        mods[modality] = prepared
    with md.set_options(pull_on_update=False):
        out = md.MuData(mods)
    out.obs = raw.obs.loc[out.obs_names].copy()
    for key, value in raw.obsm.items():
        if key not in raw.mod:
            out.obsm[key] = np.asarray(value)
    out.uns["preprocess"] = {
        "modalities": {m: dict(s) for m, s in settings["modalities"].items()},
        **{k: v for k, v in params.items()},
    }
    validate_training_input(out, list(mods), "batch", source={m: sources[m] for m in mods})
    return out


def source_files(raw: md.MuData, default: str) -> dict[str, str]:
    """The user's file each raw modality was read from.

    Errors found while preprocessing then name that file rather than the
    intermediate ``raw.h5mu``.

    Parameters
    ----------
    raw
        The raw dataset; :func:`mima.data.assemble.assemble_raw` records
        ``uns['source_files']`` (``{modality: file}``) for data it read.
    default
        The name used for modalities without a recorded file (simulated data).

    Returns
    -------
    dict
        ``{modality: file}`` for every modality of ``raw``.
    """
    recorded = raw.uns.get("source_files", {})
    return {m: str(recorded.get(m, default)) for m in raw.mod}


def zero_notices(adata: ad.AnnData, modality: str, source: str) -> list[str]:
    """One-line notices for features that are zero in every cell and cells
    that are zero in every feature of a modality's input ``X``.

    Both are kept -- the model uses every feature, and every method copes
    with them (real data have them: e.g. ATAC bins that no cell of a subset
    reaches) -- but the user is told.

    Parameters
    ----------
    adata
        The modality; ``X`` dense or scipy sparse (not densified).
    modality, source
        Named in the notices.

    Returns
    -------
    list of str
        Empty when there is nothing to report.
    """
    X = adata.X
    magnitude = abs(X) if sp.issparse(X) else np.abs(np.asarray(X))
    notices = []
    for axis, what, names, across, fix in (
            (0, "features", adata.var_names, "cell", "drop them if unintended"),
            (1, "cells", adata.obs_names, "feature",
             "drop them from every modality if unintended (e.g. scanpy.pp.filter_cells(adata, min_counts=1))")):
        empty = np.flatnonzero(np.asarray(magnitude.sum(axis=axis)).ravel() == 0)
        if empty.size:
            notices.append(f"notice: {source}: mod['{modality}']: {empty.size} of {len(names)} {what} are zero in "
                           f"every {across} (e.g. {names[empty[0]]!r}); kept -- {fix}")
    return notices
