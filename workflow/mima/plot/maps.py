"""Data of the translation maps (DESIGN §5): which features are drawn, and
their held-out 4CV translations gathered over the folds."""

from __future__ import annotations

import re

import mudata as md
import numpy as np
import pandas as pd

from ..errors import InputError
from ..utils import dense

#: a configured m/z matches a feature whose name holds a number this close
MZ_TOLERANCE = 0.01


def heldout_translations(heldout: dict[int, md.MuData], target: str) -> dict[str, pd.DataFrame]:
    """Every held-out cell's translation into ``target``, per source
    modality (cells × evaluation features), gathered over the folds."""
    pieces: dict[str, list[pd.DataFrame]] = {}
    for fold in sorted(heldout):
        adata = heldout[fold].mod.get(target)
        if adata is None:
            continue
        for layer in adata.layers:
            if layer.startswith("translated_from_"):
                source = layer.removeprefix("translated_from_")
                pieces.setdefault(source, []).append(
                    pd.DataFrame(dense(adata.layers[layer], np.float64), index=adata.obs_names, columns=adata.var_names))
    return {source: pd.concat(frames) for source, frames in pieces.items()}


def match_feature(names, wanted: str, source: str, field: str) -> str:
    """The feature called ``wanted``, or for a number (an m/z) the feature
    whose name holds the nearest number within :data:`MZ_TOLERANCE`.

    Raises
    ------
    mima.errors.InputError
        No such feature.
    """
    names = list(map(str, names))
    if wanted in names:
        return wanted
    try:
        target = float(wanted)
    except ValueError:
        target = None
    if target is not None:
        numbers = {}
        for name in names:
            found = re.findall(r"\d+\.\d+|\d+", name)
            if found:
                numbers[name] = float(found[-1])
        if numbers:
            best = min(numbers, key=lambda n: abs(numbers[n] - target))
            if abs(numbers[best] - target) <= MZ_TOLERANCE:
                return best
    raise InputError(source, field, f"feature {wanted!r} is not among the {len(names)} evaluation features",
                     f"name one of the HVF features, e.g. {', '.join(names[:5])}")


def choose_features(configured: list[dict], translations: dict[str, dict[str, pd.DataFrame]], r2: pd.DataFrame,
                    default_sample: str, samples_present, source: str = "config.yaml") -> list[dict]:
    """The features the translation maps show.

    Parameters
    ----------
    configured
        ``figures.features`` entries ``{modality, feature, sample}`` (sample
        optional); empty: per target modality, the feature MIMA translates
        best (highest mean r² over sources), on ``default_sample``.
    translations
        ``{target: {source: cells × features}}`` from :func:`heldout_translations`.
    r2
        The ``translation_r2`` table.
    default_sample
        The sample of entries without one.
    samples_present
        The dataset's samples (to check configured ones).

    Returns
    -------
    list of dict
        ``{modality, feature, sample}`` with the feature's name in the data.
    """
    chosen = []
    if configured:
        present = set(map(str, samples_present))
        for i, entry in enumerate(configured):
            field = f"figures.features[{i}]"
            modality = entry["modality"]
            if modality not in translations:
                raise InputError(source, f"{field}.modality", f"{modality!r} is not a translated modality",
                                 f"use one of {', '.join(sorted(translations))}")
            names = next(iter(translations[modality].values())).columns
            feature = match_feature(names, str(entry["feature"]), source, f"{field}.feature")
            sample = entry.get("sample", default_sample)
            if sample not in present:
                raise InputError(source, f"{field}.sample", f"sample {sample!r} is not in the data",
                                 f"use one of {', '.join(sorted(present)[:10])}")
            chosen.append({"modality": modality, "feature": feature, "sample": sample})
        return chosen
    mima = r2[(r2["method"] == "mima") & (r2["metric"] == "r2")] if "method" in r2 else r2.iloc[0:0]
    for modality in translations:
        part = mima[mima["target"] == modality]
        if part.empty:
            feature = str(next(iter(translations[modality].values())).columns[0])
        else:
            feature = str(part.groupby("feature")["value"].mean().idxmax())
        chosen.append({"modality": modality, "feature": feature, "sample": default_sample})
    return chosen
