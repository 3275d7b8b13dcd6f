"""Runtime table ``results/{dataset}/tables/runtime.tsv``.

Columns: ``dataset, method, embedding, metric, value, status, reason`` —
one row per (method, metric) with metric ``seconds`` (wall time summed over
the method's jobs; MIMA: training + embedding) and ``max_rss_mb`` (peak
resident memory of its largest job), from Snakemake's ``benchmark:``
files. ``embedding`` is empty (the cost is the method's, not one
embedding's); ``status`` is ``ok`` or ``failed`` and ``reason`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..status import OK, STATUS_COLUMNS

COLUMNS = ["dataset", "method", "embedding", "metric", "value", *STATUS_COLUMNS]


def read_benchmark(path: str) -> pd.DataFrame:
    """One Snakemake benchmark file (columns ``s``, ``max_rss`` in MB, ...)."""
    return pd.read_csv(path, sep="\t")


def runtime_table(dataset: str, benchmarks: Mapping[str, Sequence[str]],
                  statuses: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """Long-format runtime table of one dataset.

    Parameters
    ----------
    dataset
        Dataset name.
    benchmarks
        ``{method: [benchmark file, ...]}``: the jobs that produced the
        method's embeddings.
    statuses
        ``{method: (status, reason)}`` from the embeddings files.
    """
    rows = []
    for method, paths in benchmarks.items():
        frames = [read_benchmark(p) for p in paths]
        seconds = float(sum(f["s"].iloc[-1] for f in frames))
        peak = float(max(pd.to_numeric(f["max_rss"], errors="coerce").fillna(0).iloc[-1] for f in frames))
        status, reason = statuses.get(method, (OK, ""))
        for metric, value in (("seconds", seconds), ("max_rss_mb", peak)):
            rows.append({"dataset": dataset, "method": method, "embedding": "", "metric": metric,
                         "value": value, "status": status, "reason": reason})
    return pd.DataFrame(rows, columns=COLUMNS)
