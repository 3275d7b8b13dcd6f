"""Helpers of the reliability catalogue: tiny user datasets, tiny pipeline
configs, and the checks every bad-input case makes (one line naming the
file, the field and the fix; nothing partial left under results/)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from pipeline_helpers import HANG_GUARD_S, REPO, snakemake

N_CELLS = 60


def cells(n: int = N_CELLS) -> list[str]:
    return [f"cell{i:03d}" for i in range(n)]


def user_obs(n: int = N_CELLS) -> pd.DataFrame:
    """obs of a tiny user dataset: two samples, three cell types."""
    return pd.DataFrame({"sample": ["s1"] * (n // 2) + ["s2"] * (n - n // 2),
                         "cell_type": [("T", "B", "NK")[i % 3] for i in range(n)]}, index=cells(n))


def rna_counts(n: int = N_CELLS, genes: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(2.0, (n, genes)).astype(np.float32)


def adt_values(n: int = N_CELLS, proteins: int = 8, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).gamma(2.0, 1.0, (n, proteins)).astype(np.float32)


def write_pair(folder: Path, rna: ad.AnnData | None = None, adt: ad.AnnData | None = None) -> dict[str, str]:
    """Write a tiny, valid rna + adt pair (or the given AnnData in their
    place); returns ``{modality: path}``."""
    folder.mkdir(parents=True, exist_ok=True)
    if rna is None:
        counts = rna_counts()
        rna = ad.AnnData(sp.csr_matrix(counts), obs=user_obs(),
                         var=pd.DataFrame(index=[f"gene{j}" for j in range(counts.shape[1])]))
        rna.layers["counts"] = rna.X.copy()
    if adt is None:
        values = adt_values()
        adt = ad.AnnData(values, obs=user_obs(), var=pd.DataFrame(index=[f"prot{j}" for j in range(values.shape[1])]))
    paths = {"rna": folder / "rna.h5ad", "adt": folder / "adt.h5ad"}
    rna.write_h5ad(paths["rna"])
    adt.write_h5ad(paths["adt"])
    return {name: str(path) for name, path in paths.items()}


def user_dataset(paths: dict[str, str], **overrides) -> dict:
    """A ``source: files`` dataset entry of config.yaml for the tiny pair
    (``paths``: ``{modality: file}``); ``overrides`` replace its keys."""
    dataset = {
        "source": "files",
        "files": dict(paths),
        "batch_key": "sample",
        "label_key": "cell_type",
        "methods": ["pca"],
        "method_params": {"pca": {"n_comps": 5}},
        "modalities": {"rna": {"preprocess": "log_normalize", "hvf": True}, "adt": {"preprocess": "as_provided"}},
        "preprocess": {"n_top_variance": 30, "n_top_mean": 20},
        "mima": {"model": {"latent_dim": 8}, "train": {"max_epochs": 2, "min_steps": 0, "batch_size": 32}},
    }
    dataset.update(overrides)
    return dataset


def pipeline_config(datasets: dict, demo: list[str] | None = None) -> dict:
    """The repository's config.yaml with only ``datasets``; ``demo`` (default:
    all of them) is the target, ``ci`` and ``paper`` are empty."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config = {key: value for key, value in config.items() if not key.startswith("x-")}
    config["datasets"] = copy.deepcopy(datasets)
    config["targets"] = {"demo": list(datasets) if demo is None else demo, "paper": [], "ci": []}
    return config


def write_config(workdir: Path, config: dict) -> Path:
    """Write ``config`` as the workdir's config.yaml, keeping the key order
    (the order of a dataset's modalities is part of its settings)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_pipeline(workdir: Path, config: dict, *args: str, timeout: int = HANG_GUARD_S) -> subprocess.CompletedProcess:
    """Write ``config`` as the workdir's config.yaml and run Snakemake on it
    (``args``: targets and options; ``--cores 2`` is added)."""
    write_config(workdir, config)
    return snakemake(workdir, *args, "--cores", "2", timeout=timeout)


def assert_one_line_error(message: str, *words: str) -> str:
    """``message`` is one line with ``-- fix:`` and every word; returns it."""
    message = message.strip()
    assert message, "no error message"
    assert "\n" not in message, f"not one line:\n{message}"
    assert " -- fix: " in message, message
    for word in words:
        assert word in message, f"{word!r} not named in: {message}"
    return message


def error_line(output: str, marker: str) -> str:
    """The one line of Snakemake's output that holds ``marker`` (it must
    appear on exactly one line)."""
    lines = [line for line in output.splitlines() if marker in line]
    assert len(lines) == 1, f"expected one line with {marker!r}, got {lines}:\n{output[-4000:]}"
    return lines[0]


def files_under(folder: Path) -> set[str]:
    """Every file below ``folder``, as relative POSIX paths (empty if absent)."""
    if not folder.exists():
        return set()
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def assert_nothing_partial(workdir: Path, complete: set[str] = frozenset()) -> None:
    """Under ``workdir/results`` only logs and the ``complete`` outputs (and
    their benchmarks) of the jobs that finished before the failure: no
    output of the failed job, no temporary file."""
    left = {path for path in files_under(workdir / "results") if "/logs/" not in f"/{path}"}
    benchmarks = {path for path in left if "/benchmarks/" in f"/{path}"}
    assert left - benchmarks == set(complete), f"unexpected files under results/: {sorted(left - benchmarks)}"
    assert not [path for path in left if Path(path).name.startswith(".")], left
