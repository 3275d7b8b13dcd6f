"""Read and validate users' paired multi-omics data.

Every problem with the user's files is reported as one
:class:`mima.errors.InputError` line naming the file, the field and the fix,
never as an h5py or pandas traceback. Reading and validation stay together:
both check the same things (unique, identically ordered cells; the batch
column) with the same helpers. Files are written by
:mod:`mima.data.atomic_write`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import anndata as ad
import h5py
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

from mima.errors import InputError

__all__ = [
    "read_paired",
    "pair_modalities",
    "validate_training_input",
    "check_modality_shape",
]

# Elements per chunk when scanning dense or stored-value arrays for NaN/inf.
_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------


def _check_hdf5(path: Path, kind: str) -> None:
    """Raise InputError if ``path`` is missing or not an HDF5 file."""
    if not path.exists():
        raise InputError(path, "file", "does not exist", f"give the path of an existing {kind} file")
    if path.is_dir():
        raise InputError(path, "file", "is a folder, not a file", f"give the path of a {kind} file")
    try:
        ok = h5py.is_hdf5(path)
    except OSError as err:
        raise InputError(path, "file", f"cannot be opened ({err})", "check its permissions") from err
    if not ok:
        raise InputError(
            path, "file", f"is not an HDF5 {kind} file (truncated or wrong format?)",
            "download or write the file again",
        )


def read_file_checked(path, reader, kind):
    """Read one file with ``reader``, turning any failure into an InputError."""
    path = Path(path)
    _check_hdf5(path, kind)
    try:
        return reader(path)
    except InputError:
        raise
    except Exception as err:  # h5py/anndata raise many types for damaged files
        detail = " ".join(str(err).split())[:200]
        raise InputError(
            path, "file", f"cannot be read as {kind} ({type(err).__name__}: {detail})",
            "download or write the file again",
        ) from err


def _pick_modalities(available: Mapping, modalities, source) -> list[str]:
    """The modality names to keep, in the requested order."""
    if modalities is None:
        return list(available)
    if isinstance(modalities, str):
        modalities = [modalities]
    present = ", ".join(available) or "none"
    for name in modalities:
        if name not in available:
            raise InputError(
                source, f"modality {name!r}", f"is not in the data (present: {present})",
                "name one of the present modalities or add the file for it",
            )
    if len(set(modalities)) != len(modalities):
        raise InputError(source, "modalities", f"names a modality twice: {list(modalities)}",
                         "name each modality once")
    return list(modalities)


def _check_unique_cells(adata, modality, source) -> None:
    dup = adata.obs_names[adata.obs_names.duplicated()]
    if len(dup):
        raise InputError(
            source, f"modality {modality!r} obs_names",
            f"{len(dup)} duplicate cell names (e.g. {dup[0]!r})",
            "make cell names unique (e.g. prefix them with the sample name)",
        )


def _check_same_cells(mods: Mapping[str, ad.AnnData], sources: Mapping[str, str]) -> None:
    """Every modality must have the cells of the first, in the same order."""
    names = list(mods)
    ref_name = names[0]
    ref = mods[ref_name].obs_names
    for name in names[1:]:
        other = mods[name].obs_names
        if len(other) == len(ref) and np.array_equal(other.values, ref.values):
            continue
        source = sources[name]
        only_ref = ref.difference(other, sort=False)
        only_other = other.difference(ref, sort=False)
        if len(only_ref) == 0 and len(only_other) == 0:
            raise InputError(
                source, f"modality {name!r} obs_names",
                f"has the same cells as {ref_name!r} but in a different order",
                f"reindex it to {ref_name!r}'s order, e.g. adata = adata[ref.obs_names].copy()",
            )
        example = (only_other if len(only_other) else only_ref)[0]
        raise InputError(
            source, f"modality {name!r} obs_names",
            f"cells differ from {ref_name!r}: {len(only_other)} only in {name!r}, "
            f"{len(only_ref)} only in {ref_name!r} (e.g. {example!r})",
            "subset every modality to the common, identically ordered cells",
        )


def _find_obs_column(mdata, key, order):
    """A column from the global obs, else from the first modality that has it."""
    if key in mdata.obs.columns:
        return mdata.obs[key]
    for name in order:
        obs = mdata.mod[name].obs
        if key in obs.columns:
            return obs[key].reindex(mdata.obs_names)
    return None


def _obs_columns(mdata, order) -> str:
    """The obs columns of the global obs and the kept modalities, for a message."""
    columns = dict.fromkeys(str(c) for c in mdata.obs.columns if not any(str(c).startswith(f"{n}:") for n in mdata.mod))
    for name in order:
        columns.update(dict.fromkeys(str(c) for c in mdata.mod[name].obs.columns))
    return _shown(columns)


def _shown(names) -> str:
    names = list(names)
    if not names:
        return "none"
    return ", ".join(names[:40]) + (f", ... ({len(names)} in all)" if len(names) > 40 else "")


def _set_key(config_key, key, python_hint):
    """How to name another column: the config key when reading for the
    pipeline (``datasets.<name>.batch_key``), else the Python argument."""
    return f"set {config_key}.{key}" if config_key else python_hint


def _as_categorical(values: pd.Series) -> pd.Categorical:
    """Categorical with string categories (missing values stay missing)."""
    values = values.astype(object)
    missing = values.isna()
    as_str = values.where(missing, values.astype(str))
    return pd.Categorical(as_str)


def _copy_batch(mdata, batch_key, order, source, config_key=None):
    column = _find_obs_column(mdata, batch_key, order)
    if column is None:
        setting = _set_key(config_key, "batch_key", "set batch_key (config.yaml) / batch_key= (Python)")
        raise InputError(
            source, f"obs column {batch_key!r}",
            f"is missing (the batch / sample of each cell); the obs columns are: {_obs_columns(mdata, order)}",
            f"{setting} to the column that holds the sample, or add the column",
        )
    n_missing = int(column.isna().sum())
    if n_missing:
        raise InputError(
            source, f"obs column {batch_key!r}", f"{n_missing} cells have no batch value",
            "fill in the sample of every cell or drop those cells",
        )
    mdata.obs["batch"] = _as_categorical(column)


def _copy_label(mdata, label_key, order, source, config_key=None):
    column = _find_obs_column(mdata, label_key, order)
    if column is None:
        setting = _set_key(config_key, "label_key", "name another with label_key=")
        raise InputError(
            source, f"obs column {label_key!r}",
            f"is missing (the cell annotation); the obs columns are: {_obs_columns(mdata, order)}",
            f"{setting} to the column that holds the annotation, add the column, or leave label_key unset",
        )
    mdata.obs["label"] = _as_categorical(column)


def _copy_spatial(mdata, spatial_key, order, source, config_key=None):
    if spatial_key in mdata.obsm:
        coords = mdata.obsm[spatial_key]
    else:
        holders = [n for n in order if spatial_key in mdata.mod[n].obsm]
        if not holders:
            keys = dict.fromkeys(str(k) for k in mdata.obsm if k not in mdata.mod)
            for name in order:
                keys.update(dict.fromkeys(str(k) for k in mdata.mod[name].obsm))
            setting = _set_key(config_key, "spatial_key", "name the right key with spatial_key=")
            raise InputError(
                source, f"obsm {spatial_key!r}", f"is missing (spot coordinates); the obsm keys are: {_shown(keys)}",
                f"{setting} to the key that holds the coordinates, or add them to obsm",
            )
        coords = mdata.mod[holders[0]].obsm[spatial_key]
    coords = np.asarray(coords.values if isinstance(coords, pd.DataFrame) else coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise InputError(source, f"obsm {spatial_key!r}", f"has shape {coords.shape}, not cells x 2",
                         "store the (x, y) coordinates of each spot")
    mdata.obsm["spatial"] = coords[:, :2]


def _read_modalities(h5mu, h5ad):
    """``(mods, sources, mdata, source)`` from one h5mu or a dict of h5ad paths.

    For h5mu input ``mods`` holds AnnData objects and ``mdata`` the file's
    MuData; for h5ad input ``mods`` holds the paths (read later, only for
    the kept modalities) and ``mdata`` is None. ``source`` names the
    file(s) in error messages.
    """
    if (h5mu is None) == (h5ad is None):
        raise InputError("read_paired", "h5mu/h5ad", "give exactly one of h5mu= or h5ad=",
                         "pass one .h5mu path, or a {modality: path.h5ad} dict")
    if h5mu is not None:
        mdata = read_file_checked(h5mu, md.read_h5mu, "h5mu")
        sources = {name: str(h5mu) for name in mdata.mod}
        return dict(mdata.mod), sources, mdata, str(h5mu)
    if not isinstance(h5ad, Mapping) or not h5ad:
        raise InputError("read_paired", "h5ad", "must be a non-empty {modality: path} dict",
                         "pass e.g. h5ad={'rna': 'rna.h5ad', 'adt': 'adt.h5ad'}")
    sources = {name: str(path) for name, path in h5ad.items()}
    return dict(h5ad), sources, None, ", ".join(sources.values())


def assemble_modalities(mods, original):
    """A MuData of ``mods``; global obs/obsm/uns carried over from ``original``.

    Global obs columns and obsm entries that belong to dropped modalities
    (``<modality>:column``, the per-modality membership masks) are left out.
    """
    with md.set_options(pull_on_update=False):
        mdata = md.MuData(mods)
    if original is None:
        return mdata
    dropped = [name for name in original.mod if name not in mods]
    own = [c for c in original.obs.columns if not any(c.startswith(f"{d}:") for d in dropped)]
    mdata.obs = original.obs[own].reindex(mdata.obs_names)
    rows = original.obs_names.get_indexer(mdata.obs_names)
    for key, value in original.obsm.items():
        if key not in original.mod:
            mdata.obsm[key] = value.iloc[rows] if isinstance(value, pd.DataFrame) else value[rows]
    mdata.uns.update(original.uns)
    return mdata


def read_paired(
    h5mu: str | os.PathLike | None = None,
    h5ad: Mapping[str, str | os.PathLike] | None = None,
    modalities: Sequence[str] | None = None,
    batch_key: str = "batch",
    label_key: str | None = None,
    spatial_key: str | None = None,
    config_key: str | None = None,
) -> md.MuData:
    """Read paired multi-omics data into one MuData.

    Parameters
    ----------
    h5mu
        Path of one ``.h5mu`` file holding every modality.
    h5ad
        Alternatively, ``{modality: path}`` of one ``.h5ad`` file per modality.
    modalities
        Modalities to keep, in this order (default: all).
    batch_key
        Column with the sample / donor of each cell, looked up in the global
        ``obs`` and then in each modality's ``obs``; copied to the global
        ``obs['batch']`` as a categorical of strings.
    label_key
        Optional column with the cell annotation, copied to ``obs['label']``.
    spatial_key
        Optional ``obsm`` key with spot coordinates, copied to
        ``obsm['spatial']``.
    config_key
        The dataset's key in config.yaml (``datasets.<name>``) when the
        pipeline reads the data: an absent batch / label column or spatial
        key is then reported with the setting to change
        (``datasets.<name>.batch_key`` etc.). Either way the message lists
        the file's obs columns (obsm keys).

    Returns
    -------
    mudata.MuData
        The kept modalities with identical, identically ordered cells; the
        global ``obs`` holds ``batch`` (and ``label``) plus, for ``h5mu``
        input, the file's own global columns; each modality keeps its own
        ``obs`` columns.

    Raises
    ------
    mima.errors.InputError
        For a missing or unreadable (non-HDF5, truncated) file, a named
        modality that is absent, duplicate cell names, cells that differ or
        are ordered differently between modalities, or a missing batch,
        label or spatial field.
    """
    mods, sources, mdata, source = _read_modalities(h5mu, h5ad)
    keep = _pick_modalities(mods, modalities, source)
    if h5ad is not None:
        mods = {name: read_file_checked(mods[name], ad.read_h5ad, "h5ad") for name in keep}
    return _pair(mods, sources, mdata, keep, source, batch_key, label_key, spatial_key, config_key)


def pair_modalities(
    mods: Mapping[str, ad.AnnData],
    source: str,
    modalities: Sequence[str] | None = None,
    batch_key: str = "batch",
    label_key: str | None = None,
    spatial_key: str | None = None,
    config_key: str | None = None,
) -> md.MuData:
    """:func:`read_paired` for modalities already in memory (e.g. split from
    one file); ``source`` names that file in error messages."""
    keep = _pick_modalities(mods, modalities, source)
    return _pair(mods, {name: source for name in mods}, None, keep, source, batch_key, label_key, spatial_key,
                 config_key)


def _pair(mods, sources, original, keep, source, batch_key, label_key, spatial_key, config_key=None) -> md.MuData:
    """Check the kept modalities' cells, assemble them, copy batch / label /
    coordinates into the global fields."""
    mods = {name: mods[name] for name in keep}
    for name, adata in mods.items():
        _check_unique_cells(adata, name, sources[name])
    _check_same_cells(mods, sources)

    mdata = original
    if mdata is None or list(mdata.mod) != keep:
        mdata = assemble_modalities(mods, original)

    _copy_batch(mdata, batch_key, keep, source, config_key)
    if label_key is not None:
        _copy_label(mdata, label_key, keep, source, config_key)
    if spatial_key is not None:
        _copy_spatial(mdata, spatial_key, keep, source, config_key)
    return mdata


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


def _count_nonfinite_values(values) -> int:
    """Non-finite entries of a 1-D array or h5py dataset, read in chunks."""
    if not np.issubdtype(values.dtype, np.floating):
        return 0  # integers and booleans cannot hold NaN or inf
    total = 0
    for start in range(0, values.shape[0], _CHUNK_ELEMENTS):
        chunk = np.asarray(values[start : start + _CHUNK_ELEMENTS])
        total += int(chunk.size - np.count_nonzero(np.isfinite(chunk)))
    return total


def _count_nonfinite(X) -> int:
    """Non-finite entries of X (sparse, dense or backed) without densifying it."""
    if sp.issparse(X):
        return _count_nonfinite_values(X.data)
    if isinstance(X, (ad.abc.CSRDataset, ad.abc.CSCDataset)):
        return _count_nonfinite_values(X.group["data"])
    if X.ndim < 2:
        return _count_nonfinite_values(np.asarray(X).ravel())
    if not np.issubdtype(X.dtype, np.floating):
        return 0
    rows = max(1, _CHUNK_ELEMENTS // max(1, X.shape[1]))
    total = 0
    for start in range(0, X.shape[0], rows):
        chunk = np.asarray(X[start : start + rows])
        total += int(chunk.size - np.count_nonzero(np.isfinite(chunk)))
    return total


def validate_training_input(
    mdata: md.MuData,
    modalities: Sequence[str],
    batch_key: str = "batch",
    source: str | Mapping[str, str] = "<data>",
) -> None:
    """Check that ``mdata`` can be used to train a model on ``modalities``.

    Sparse matrices are checked through their stored values and dense ones
    in row chunks, so no whole matrix is densified.

    Parameters
    ----------
    mdata
        The data set.
    modalities
        Modalities the model will use.
    batch_key
        Global ``obs`` column holding the sample / batch of each cell.
    source
        Name of the data's file, used in error messages; or
        ``{modality: file}`` when the modalities came from different files.

    Raises
    ------
    mima.errors.InputError
        If a modality is absent, has no features, no cells or no ``X``; if
        cell names repeat or differ between modalities; if an ``X`` holds NaN or inf; if the
        batch column is missing or incomplete; or if a sample has only one
        cell.
    """
    if isinstance(modalities, str):
        modalities = [modalities]
    if isinstance(source, Mapping):
        sources = {name: str(source.get(name, "<data>")) for name in mdata.mod}
        source = ", ".join(dict.fromkeys(sources[name] for name in modalities if name in sources)) or "<data>"
    else:
        sources = {name: str(source) for name in mdata.mod}
    if not modalities:
        raise InputError(source, "modalities", "none named", "name at least one modality")
    present = ", ".join(mdata.mod) or "none"
    for name in modalities:
        if name not in mdata.mod:
            raise InputError(source, f"modality {name!r}", f"is absent (present: {present})",
                             "name a present modality or add it to the data")
    for name in modalities:
        check_modality_shape(mdata.mod[name], name, sources[name])
        _check_unique_cells(mdata.mod[name], name, sources[name])
    _check_same_cells({n: mdata.mod[n] for n in modalities}, sources)
    for name in modalities:
        n_bad = _count_nonfinite(mdata.mod[name].X)
        if n_bad:
            raise InputError(sources[name], f"modality {name!r} X", f"holds {n_bad} NaN or infinite values",
                             "replace them (e.g. with 0) or drop the affected cells/features")
    _validate_batch(mdata, mdata.mod[modalities[0]].obs_names, batch_key, source)


def check_modality_shape(adata, name, source):
    """Check that a modality is not empty.

    Parameters
    ----------
    adata : anndata.AnnData
        The modality.
    name, source
        Its name and file, for the message.

    Raises
    ------
    mima.errors.InputError
        When the modality has no cells, no features or no ``X``.
    """
    if adata.n_obs == 0:
        raise InputError(source, f"modality {name!r}", "has zero cells", "give it the cells of the data set")
    if adata.n_vars == 0:
        raise InputError(source, f"modality {name!r}", "has zero features",
                         "add its features or leave the modality out")
    if adata.X is None:
        raise InputError(source, f"modality {name!r} X", "is empty (None)",
                         "store the model input in X")


def _validate_batch(mdata, cells, batch_key, source):
    if batch_key not in mdata.obs.columns:
        in_mods = [n for n, a in mdata.mod.items() if batch_key in a.obs.columns]
        hint = (f"it is only in modality obs ({', '.join(in_mods)}): read the data with "
                f"mima.data.io.read_paired or copy it to the global obs"
                if in_mods else f"add a global obs column {batch_key!r} with each cell's sample")
        raise InputError(source, f"obs column {batch_key!r}", "is missing", hint)
    batch = mdata.obs[batch_key].reindex(cells)
    n_missing = int(batch.isna().sum())
    if n_missing:
        raise InputError(source, f"obs column {batch_key!r}", f"{n_missing} cells have no batch value",
                         "fill in the sample of every cell or drop those cells")
    counts = batch.astype(str).value_counts()
    single = counts.index[counts == 1].tolist()
    if single:
        shown = ", ".join(repr(s) for s in single[:5]) + (" ..." if len(single) > 5 else "")
        raise InputError(
            source, f"obs column {batch_key!r}",
            f"sample(s) {shown} have only one cell",
            "drop those cells or merge the sample into another",
        )
