"""The scIB table of one dataset (DESIGN §2, §4).

``tables/scib.tsv`` — columns ``dataset, method, embedding, metric, value,
scaled, status, reason``: the raw value of every metric of every embedding
of every method, its min-max scaled value over the dataset's embeddings,
and per embedding the rows ``bio_conservation``, ``batch_correction``,
``total`` (0.6 bio + 0.4 batch) and ``mean``. A failed method has one row
with ``status = failed`` and the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .scib import scale_and_aggregate, scib_raw

COLUMNS = ["dataset", "method", "embedding", "metric", "value", "scaled", "status", "reason"]


def baseline_key(embedding: str, modalities: list[str]) -> str:
    """The PCA an embedding is compared with by PCR comparison: that of its
    modality (name ending in ``_<m>``), else of the concatenated modalities
    (the only modality's for a one-modality dataset)."""
    for m in sorted(modalities, key=len, reverse=True):
        if embedding.endswith(f"_{m}"):
            return f"pca_{m}"
    return "pca_concat" if len(modalities) > 1 else f"pca_{modalities[0]}"


def method_scib_rows(dataset: str, embeddings, obs: pd.DataFrame, modalities: list[str], pca, settings: dict,
                     seed: int = 0) -> pd.DataFrame:
    """Raw scIB metrics of every embedding in one method's embeddings file.

    Parameters
    ----------
    embeddings
        The method's embeddings file (AnnData, DESIGN §2).
    obs
        The prepared dataset's obs (``batch``, ``label``).
    pca
        The PCA method's embeddings file (baselines of PCR comparison).
    settings
        ``evaluation.scib`` settings: ``n_neighbors``, ``leiden``, ``unlabelled``.
    """
    method = str(embeddings.uns["method"]["name"])
    if embeddings.uns.get("status", "ok") != "ok":
        return pd.DataFrame([{"dataset": dataset, "method": method, "embedding": "", "metric": "", "value": np.nan,
                              "scaled": np.nan, "status": "failed", "reason": str(embeddings.uns.get("reason", ""))}],
                            columns=COLUMNS)
    obs = obs.loc[embeddings.obs_names]
    labels = obs["label"].astype(str).to_numpy() if "label" in obs else None
    batch = obs["batch"].astype(str).to_numpy()
    rows = []
    for name in embeddings.obsm:
        key = baseline_key(name, modalities)
        baseline = np.asarray(pca.obsm[key]) if key in pca.obsm else None
        raw = scib_raw(np.asarray(embeddings.obsm[name]), labels, batch, baseline=baseline,
                       n_neighbors=settings.get("n_neighbors", 90), seed=seed, leiden=settings.get("leiden", True),
                       exclude_labels=tuple(settings.get("unlabelled", ("unlabelled", "other"))))
        rows += [{"dataset": dataset, "method": method, "embedding": name, "metric": metric, "value": value,
                  "scaled": np.nan, "status": "ok", "reason": ""} for metric, value in raw.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


def scib_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Scale the raw metrics over the dataset's embeddings and add the
    aggregate scores; failed methods' rows are kept as they are."""
    ok = raw[raw["status"] == "ok"]
    scored = scale_and_aggregate(ok[["dataset", "method", "embedding", "metric", "value"]]) if len(ok) else ok
    scored = scored.assign(status="ok", reason="")
    return pd.concat([scored, raw[raw["status"] != "ok"]], ignore_index=True).reindex(columns=COLUMNS)
