"""Compare two runs' results file by file, exactly.

Used by the reproducibility test: two runs with the same config and seeds
must give the same numbers. What is legitimately different between two runs
is listed in :data:`NOT_COMPARED` and :data:`VARYING`, by name, with the
reason.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp

#: Paths (relative to a dataset's results folder, glob patterns) left out.
NOT_COMPARED = {
    "logs/*": "logs hold timestamps and timings",
    "benchmarks/*": "wall time and memory of each job",
    "figures/*": "rendered images (PDFs carry a creation date); their numbers come from the files compared here",
    "mima/.ckpt/*": "training state, not a result (the trained model is compared)",
    "mima/cv/*/.ckpt/*": "training state, not a result (the trained models are compared)",
    "*/.snakemake_timestamp": "Snakemake's record of when a folder output was finished",
}
#: Tables whose values are compared to a relative tolerance instead of
#: exactly, with the reason. scIB's metric values of bit-identical embeddings
#: were seen to differ by one float64 ulp (2.2e-16) between two runs of the
#: same code (plain runs, and a plain and a conda run), in the silhouette
#: metrics and the scores averaged from them: their float32 Gram products and
#: parallel sums are not bit-reproducible run to run (open: issue 18 §8). One
#: ulp is 2e-16 relative; 1e-12 admits only such rounding, not a changed result.
TOLERANCE = {"tables/scib.tsv": 1e-12}
#: Values inside compared files that vary between runs.
VARYING = {
    "tables/runtime.tsv": ["value"],  # wall time / peak memory
    "uns.method.runtime_s": "an embedding file's runtime",
}


def not_compared(relative: str) -> bool:
    return any(PurePosixPath(relative).match(pattern) for pattern in NOT_COMPARED)


def compared_files(folder: Path) -> list[str]:
    """The files of one dataset's results folder that are compared."""
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return sorted(f for f in files if not not_compared(f))


def _matrix(value):
    if value is None:
        return None
    return value.toarray() if sp.issparse(value) else np.asarray(value)


def _equal_arrays(a, b, what: str, problems: list[str]) -> None:
    a, b = _matrix(a), _matrix(b)
    if a is None or b is None:
        if (a is None) != (b is None):
            problems.append(f"{what}: present in one run only")
        return
    if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
        detail = f"shapes {a.shape} vs {b.shape}" if a.shape != b.shape else \
            f"max |diff| {np.nanmax(np.abs(a.astype(float) - b.astype(float))):.3g}"
        problems.append(f"{what}: differs ({detail})")


def _equal_frames(a: pd.DataFrame, b: pd.DataFrame, what: str, problems: list[str], rtol: float | None = None) -> None:
    try:
        if rtol is None:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        else:
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=rtol, atol=0.0)
    except AssertionError as error:
        problems.append(f"{what}: {' '.join(str(error).split())[:300]}")


def _without_runtime(uns) -> dict:
    uns = dict(uns)
    if "method" in uns:
        uns["method"] = {k: v for k, v in dict(uns["method"]).items() if k != "runtime_s"}
    return json.loads(json.dumps(uns, default=lambda value: np.asarray(value).tolist(), sort_keys=True))


def _compare_anndata(a: ad.AnnData, b: ad.AnnData, what: str, problems: list[str]) -> None:
    _equal_frames(a.obs, b.obs, f"{what} obs", problems)
    _equal_frames(a.var, b.var, f"{what} var", problems)
    _equal_arrays(a.X, b.X, f"{what} X", problems)
    for field in ("obsm", "layers", "varm"):
        x, y = getattr(a, field), getattr(b, field)
        if set(x) != set(y):
            problems.append(f"{what} {field}: keys {sorted(x)} vs {sorted(y)}")
        for key in set(x) & set(y):
            _equal_arrays(x[key], y[key], f"{what} {field}['{key}']", problems)


def compare_file(a: Path, b: Path, relative: str) -> list[str]:
    """Differences between one file of two runs (empty: identical)."""
    problems: list[str] = []
    name = a.name
    if name.endswith(".h5ad"):
        x, y = ad.read_h5ad(a), ad.read_h5ad(b)
        _compare_anndata(x, y, relative, problems)
        if _without_runtime(x.uns) != _without_runtime(y.uns):
            problems.append(f"{relative} uns differs")
    elif name.endswith(".h5mu"):
        x, y = md.read_h5mu(a), md.read_h5mu(b)
        if list(x.mod) != list(y.mod):
            problems.append(f"{relative}: modalities {list(x.mod)} vs {list(y.mod)}")
        for m in set(x.mod) & set(y.mod):
            _compare_anndata(x.mod[m], y.mod[m], f"{relative} mod['{m}']", problems)
        _equal_frames(x.obs, y.obs, f"{relative} obs", problems)
        for key in set(x.obsm) | set(y.obsm):
            _equal_arrays(x.obsm.get(key), y.obsm.get(key), f"{relative} obsm['{key}']", problems)
    elif name.endswith((".tsv", ".tsv.gz")):
        read = dict(sep="\t", keep_default_na=False, na_values=[""])
        x, y = pd.read_csv(a, **read), pd.read_csv(b, **read)
        varying = VARYING.get(relative, [])
        _equal_frames(x.drop(columns=varying, errors="ignore"), y.drop(columns=varying, errors="ignore"), relative,
                      problems, rtol=TOLERANCE.get(relative))
    elif name.endswith(".pt"):
        import torch

        x, y = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
        if set(x) != set(y):
            problems.append(f"{relative}: keys differ")
        for key in set(x) & set(y):
            if not torch.equal(x[key], y[key]):
                problems.append(f"{relative} [{key}] differs")
    elif name.endswith(".json"):
        if json.loads(a.read_text()) != json.loads(b.read_text()):
            problems.append(f"{relative} differs")
    elif a.read_bytes() != b.read_bytes():
        problems.append(f"{relative} differs (bytes)")
    return problems


def compare_datasets(first: Path, second: Path, datasets: list[str]) -> tuple[list[str], list[str]]:
    """Compare ``results/<dataset>`` of two workdirs for each dataset.

    Returns
    -------
    compared, problems
        The files compared (``<dataset>/<path>``), and every difference.
    """
    compared, problems = [], []
    for dataset in datasets:
        a, b = first / "results" / dataset, second / "results" / dataset
        files_a, files_b = compared_files(a), compared_files(b)
        if files_a != files_b:
            problems.append(f"{dataset}: files only in one run: {sorted(set(files_a) ^ set(files_b))}")
        for relative in sorted(set(files_a) & set(files_b)):
            compared.append(f"{dataset}/{relative}")
            problems += [f"{dataset}/{p}" for p in compare_file(a / relative, b / relative, relative)]
    return compared, problems
