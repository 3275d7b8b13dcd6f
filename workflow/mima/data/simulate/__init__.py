"""Deterministic simulators of paired multi-omics with known latent factors.

Every simulator draws three kinds of latent factor and builds each modality
from them, so that a method's embeddings can be checked against the truth:

- a **shared** factor (cells x ``K_SHARED``): a cell-type (annotation)
  centroid plus within-type noise; it drives every modality;
- a **private** factor per modality (cells x ``K_PRIVATE``): independent of
  the cell type and of the other modalities' private factors;
- a **batch** factor (cells x ``K_BATCH``): one random vector per batch
  (sample / donor), identical for all cells of that batch; every
  modality's batch effect is a function of this vector only.

Output contract (all kinds)
---------------------------
``mdata.obs``
    ``batch`` (categorical: donor / sample) and ``label`` (categorical:
    cell type / annotation); spatial data also has ``patient`` and
    ``condition`` (``cancer`` / ``normal``).
``mdata.obs_names``
    ``cell_00000``, ``cell_00001``, ... identical in every modality.
``mdata.obsm``
    ``true_shared`` (float32, cells x ``K_SHARED``), ``true_batch``
    (float32, cells x ``K_BATCH``: the batch vector of the cell's batch);
    spatial data also has ``spatial`` (float32, cells x 2: grid column x,
    grid row y, in spot units).
``mdata.mod[m].obsm['true_private']``
    float32, cells x ``K_PRIVATE``, for every modality ``m``.
``mdata.mod[m].X``
    float32 raw values: scipy CSR counts for ``rna``, ``adt``, ``atac``;
    dense non-negative intensities for ``msi``; dense embedding for
    ``morphology``.
``mdata.mod[m].layers['counts']``
    the same raw counts as ``X`` (CSR float32) for ``rna``, ``adt``, ``atac``.
``mdata.mod[m].var_names``
    ``gene_0000`` (rna), ``protein_000`` (adt), sorted ``chrN-start-end``
    (atac), sorted ``mz_702.544``-style m/z labels (msi), ``morph_000``
    (morphology); unique across modalities.
``mdata.mod[m].var['feature_types']``
    ``GEX``, ``ADT``, ``ATAC``, ``MSI`` or ``Morphology``.
``mdata.uns['simulation']``
    ``kind``, ``seed``, ``params`` (the call's arguments plus the latent
    sizes) and, for spatial data, ``msi_batch`` (per-sample ``gain``,
    ``power``, ``offset`` of the MSI batch transform, in ``batches`` order).

The same seed gives bit-identical output; all randomness comes from one
``numpy.random.default_rng(seed)`` per call.

Package layout
--------------
:mod:`~mima.data.simulate.building_blocks`
    latent factors, count models, modality builders and MuData assembly
    shared by every kind;
:mod:`~mima.data.simulate.single_cell`
    :func:`simulate_cite` and :func:`simulate_multiome` (RNA, ADT, ATAC peaks);
:mod:`~mima.data.simulate.spatial`
    :func:`simulate_spatial` (annotation layout, RNA, MSI, morphology).

Stand-ins of the study's real datasets, of their published shapes and file
layouts, are separate (they are files to serve as downloads, not MuData):
:mod:`~mima.data.simulate.study` (GEO CITE-seq / multiome, planned shapes),
:mod:`~mima.data.simulate.study_spatial` (Zenodo prostate-cancer data),
:mod:`~mima.data.simulate.study_features` (names and layouts) and
:mod:`~mima.data.simulate.standins` (:func:`write_standins`: the data-mirror
layout, ``mima simulate-study``).
"""

from __future__ import annotations

import mudata as md

from mima.errors import InputError

from .building_blocks import K_BATCH, K_PRIVATE, K_SHARED
from .single_cell import simulate_cite, simulate_multiome
from .spatial import SPATIAL_CLASSES, simulate_spatial

__all__ = [
    "K_SHARED",
    "K_PRIVATE",
    "K_BATCH",
    "SPATIAL_CLASSES",
    "simulate",
    "simulate_cite",
    "simulate_multiome",
    "simulate_spatial",
]


_SIMULATORS = {
    "cite": simulate_cite,
    "multiome": simulate_multiome,
    "spatial": simulate_spatial,
}


def simulate(kind: str, **kwargs) -> md.MuData:
    """Simulate a data set of the given kind.

    Parameters
    ----------
    kind
        ``'cite'``, ``'multiome'`` or ``'spatial'``.
    **kwargs
        Passed to :func:`simulate_cite`, :func:`simulate_multiome` or
        :func:`simulate_spatial`.

    Returns
    -------
    mudata.MuData
        The simulated data set.

    Raises
    ------
    mima.errors.InputError
        If ``kind`` is not one of the valid kinds.
    """
    if kind not in _SIMULATORS:
        raise InputError("simulate", "kind", f"{kind!r} is not a simulator",
                         f"use one of: {', '.join(_SIMULATORS)}")
    return _SIMULATORS[kind](**kwargs)
