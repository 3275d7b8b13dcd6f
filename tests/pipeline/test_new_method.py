"""Adding a method takes an adapter, an env file and a registry entry — and
nothing else: in a copy of the workflow, a toy method added that way runs
through the pipeline (its rule, its env file, its rows in the tables)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline_helpers import HANG_GUARD_S, REPO

pytestmark = pytest.mark.slow

TOY_ADAPTER = '''"""Toy method: a seeded Gaussian random projection of each modality."""

import numpy as np

from .base import Requirements, merge_params, modality_matrix

REQUIRES = Requirements()
DEFAULTS = {"dims": 4}


def version():
    return "0.0"


def run(mdata, modalities, params, seed, threads):
    params = merge_params(params, DEFAULTS, "toy")
    embeddings = {}
    for m in modalities:
        x = modality_matrix(mdata, m)
        projection = np.random.default_rng(seed).normal(size=(x.shape[1], params["dims"]))
        embeddings[f"toy_{m}"] = np.asarray(x @ projection)
    return embeddings
'''

TOY_ENV = """name: toy
channels: [conda-forge]
dependencies: [python=3.11, numpy=2.2.6]
"""

REGISTRY_ENTRY = '    Method("toy", "Toy projection", env="toy", embeddings="`toy_<m>`", citation="none"),\n'


def copy_workflow(destination: Path) -> Path:
    """The workflow's own files (no results, caches or environments)."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("workflow", "envs", "resources"):
        shutil.copytree(REPO / name, destination / name, ignore=ignore)
    return destination


def add_toy_method(repo: Path) -> None:
    """The three edits DESIGN §1 allows: adapter, env file, registry entry."""
    (repo / "workflow" / "mima" / "methods" / "toy.py").write_text(TOY_ADAPTER)
    (repo / "envs" / "toy.yaml").write_text(TOY_ENV)
    registry = repo / "workflow" / "mima" / "methods" / "registry.py"
    text = registry.read_text()
    anchor = "REGISTRY: tuple[Method, ...] = (\n"
    assert anchor in text
    registry.write_text(text.replace(anchor, anchor + REGISTRY_ENTRY))


def test_a_toy_method_runs_through_the_pipeline_with_no_other_edit(tmp_path):
    repo = copy_workflow(tmp_path)
    add_toy_method(repo)
    config = yaml.safe_load((repo / "config.yaml").read_text())
    tiny = dict(config["datasets"]["ci_cite"], methods=["pca", "toy"])
    tiny["evaluation"] = dict(tiny["evaluation"], gene_set=None)
    config["datasets"] = {"toy_cite": tiny}
    config["targets"] = {"demo": ["toy_cite"], "paper": [], "ci": ["toy_cite"]}
    config["method_params"] = {"toy": {"dims": 3}}  # the schema knows the new name
    (repo / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    base = repo / "results" / "toy_cite"
    targets = [f"results/toy_cite/{path}" for path in ("embeddings/toy.h5ad", "tables/runtime.tsv", "tables/scib.tsv")]
    command = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(repo),
               "--cores", "2", *targets]
    result = subprocess.run(command, capture_output=True, text=True, timeout=HANG_GUARD_S, cwd=repo)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "embed_toy" in result.stderr

    toy = ad.read_h5ad(base / "embeddings" / "toy.h5ad")
    assert toy.uns["status"] == "ok" and set(toy.obsm) == {"toy_rna", "toy_adt"}
    assert toy.obsm["toy_rna"].shape[1] == 3 and np.isfinite(toy.obsm["toy_rna"]).all()
    runtime = pd.read_csv(base / "tables" / "runtime.tsv", sep="\t")
    assert set(runtime["method"]) == {"mima", "pca", "toy"} and set(runtime["status"]) == {"ok"}
    scib = pd.read_csv(base / "tables" / "scib.tsv", sep="\t")
    assert {"toy_rna", "toy_adt"} <= set(scib.loc[scib["method"] == "toy", "embedding"])

