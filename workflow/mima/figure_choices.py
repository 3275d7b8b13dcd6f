"""Which samples and features the figures show, chosen from the config
and the data (no drawing here: the jobs that compute a figure's values
import it without matplotlib)."""

from __future__ import annotations

import re

import pandas as pd

from .errors import InputError

#: a configured m/z matches a feature whose name holds a number this close
MZ_TOLERANCE = 0.01


def choose_samples(batches, configured: list[str] | None, n_default: int = 2, source: str = "config.yaml") -> list[str]:
    """The samples the tissue panels show: the configured ones, else the
    first ``n_default`` in order of appearance.

    Raises
    ------
    mima.errors.InputError
        A configured sample is not in the data.
    """
    present = list(dict.fromkeys(pd.Series(batches).astype(str)))
    if not configured:
        return present[:n_default]
    unknown = [s for s in configured if s not in present]
    if unknown:
        raise InputError(source, "figures.samples", f"sample {unknown[0]!r} is not in the data",
                         f"use one of {', '.join(present[:10])}")
    return list(configured)


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


def choose_features(configured: list[dict], evaluation_features: dict[str, list[str]], r2: pd.DataFrame,
                    default_sample: str, samples_present, source: str = "config.yaml") -> list[dict]:
    """The features the translation maps show.

    Parameters
    ----------
    configured
        ``figures.features`` entries ``{modality, feature, sample}`` (sample
        optional); empty: per target modality, the feature MIMA translates
        best (highest mean r² over sources), on ``default_sample``.
    evaluation_features
        ``{target: its evaluation features}`` of every translated modality.
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
            if modality not in evaluation_features:
                raise InputError(source, f"{field}.modality", f"{modality!r} is not a translated modality",
                                 f"use one of {', '.join(sorted(evaluation_features))}")
            names = evaluation_features[modality]
            feature = match_feature(names, str(entry["feature"]), source, f"{field}.feature")
            sample = entry.get("sample", default_sample)
            if sample not in present:
                raise InputError(source, f"{field}.sample", f"sample {sample!r} is not in the data",
                                 f"use one of {', '.join(sorted(present)[:10])}")
            chosen.append({"modality": modality, "feature": feature, "sample": sample})
        return chosen
    mima = r2[(r2["method"] == "mima") & (r2["metric"] == "r2")] if "method" in r2 else r2.iloc[0:0]
    for modality, names in evaluation_features.items():
        part = mima[mima["target"] == modality]
        if part.empty:
            feature = str(names[0])
        else:
            feature = str(part.groupby("feature")["value"].mean().idxmax())
        chosen.append({"modality": modality, "feature": feature, "sample": default_sample})
    return chosen
