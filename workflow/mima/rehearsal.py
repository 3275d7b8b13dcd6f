"""The rehearsal: the study's DAG on simulated stand-ins of its datasets.

Each study dataset of the ``paper`` target that has a stand-in gets a twin
``rehearsal_<dataset>``: the study dataset's own settings (source, files,
keys, preprocessing, MIMA, methods, evaluation, figures) with the
``rehearsal.settings`` block merged over them, and a mirror folder holding
its stand-in files in the published layout
(:mod:`mima.data.simulate.study`), so that the real download and reading
code runs. Knows nothing of Snakemake.
"""

from __future__ import annotations

import copy

from .config import deep_merge

#: Prefix of a rehearsal dataset's name (and of its per-dataset target).
PREFIX = "rehearsal_"

#: The study datasets a stand-in exists for.
STUDY_DATASETS = ("pca_spatial", "neurips_cite", "neurips_multiome")


def with_rehearsal(config: dict, mirror: str) -> dict:
    """``config`` plus the rehearsal's datasets and its targets.

    Parameters
    ----------
    config
        The validated configuration.
    mirror
        Folder the stand-ins are written to and read from (the rehearsal
        datasets' ``data_mirror``); the GEO stand-ins' sha256 lock file lives
        in it too.

    Returns
    -------
    dict
        A copy of ``config`` with, for each study dataset of
        ``targets.paper`` that has a stand-in, a dataset
        ``rehearsal_<name>`` (with ``standin: {of, scale, feature_scale}``
        and ``data_mirror``), ``targets.rehearsal`` listing them all and
        ``targets.rehearsal_<name>`` each alone. Unchanged (a copy) without
        a ``rehearsal:`` block.
    """
    config = copy.deepcopy(config)
    rehearsal = config.get("rehearsal")
    if not rehearsal:
        return config
    names = []
    for study in config["targets"]["paper"]:
        if study not in STUDY_DATASETS:
            continue
        name = f"{PREFIX}{study}"
        twin = deep_merge(config["datasets"][study], rehearsal.get("settings"))
        twin["description"] = f"Rehearsal of {study}: a simulated stand-in of its shapes, in its published layout"
        twin["standin"] = {"of": study, "scale": rehearsal.get("scale", 1.0),
                           "feature_scale": rehearsal.get("feature_scale", 1.0)}
        twin["data_mirror"] = mirror
        if twin["source"] == "geo":
            twin["lock"] = f"{mirror}/geo/checksums.lock.tsv"
        config["datasets"][name] = twin
        config["targets"][name] = [name]
        names.append(name)
    config["targets"]["rehearsal"] = names
    return config
