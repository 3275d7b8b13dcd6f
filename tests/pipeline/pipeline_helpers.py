"""Running Snakemake on the repository's Snakefile from a test."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml


REPO = Path(__file__).resolve().parents[2]
#: seconds before a Snakemake call counts as hung: a guard, never a speed
#: check (the whole ci run takes ~10 min on 2 idle cores, several times
#: that on a machine whose CPUs other work shares)
HANG_GUARD_S = 3600


def snakemake(workdir: Path, *args: str, configfile: Path | None = None,
              timeout: int = HANG_GUARD_S) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's Snakefile inside ``workdir`` with
    ``configfile`` (default: the workdir's config.yaml)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               *args, "--configfile", str(configfile or workdir / "config.yaml")]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=workdir)


#: The real test data beside the repository (absent: the tests that need it skip).
SHARED_DATA = REPO.parent / "shared" / "data"


def ci_config() -> dict:
    """config.yaml as the tests run it: the repository's config plus what
    only the tests have — ``data_mirror`` set to the real test data beside
    the repository (the starters are then read offline instead of
    downloaded), and the dataset ``ci_bmmc_cite`` added to the ``ci``
    target: the real CITE starter read exactly as a user's own paired h5ad
    files, with the tiny settings of ``ci_cite``. Paths are relative to the
    repository, as a user's are."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    shared = os.path.relpath(SHARED_DATA, REPO)
    config["data_mirror"] = shared
    # a copy: shared objects would be written as YAML aliases, and a test that
    # changes one dataset's settings would change the other's too
    cite = copy.deepcopy(config["datasets"]["ci_cite"])
    evaluation = {key: value for key, value in cite["evaluation"].items() if key != "gene_set"}
    config["datasets"]["ci_bmmc_cite"] = {
        "source": "files",
        "files": {"rna": f"{shared}/bmmc_cite_starter/rna.h5ad", "adt": f"{shared}/bmmc_cite_starter/adt.h5ad"},
        "batch_key": "batch",
        "label_key": "cell_type",
        "method_params": cite["method_params"],
        # 41 cell types, many rare: its classification alone would take minutes (ci_cite covers it)
        "evaluation": {**evaluation, "classification": {"enabled": False}},
        "modalities": {"rna": {"preprocess": "log_normalize", "hvf": True}, "adt": {"preprocess": "as_provided"}},
        "preprocess": {"n_top_variance": 500, "n_top_mean": 200},
        "mima": cite["mima"],
    }
    config["targets"]["ci"] = [*config["targets"]["ci"], "ci_bmmc_cite"]
    return config


class _NoAliases(yaml.SafeDumper):
    """Writes every shared block out in full: a test that loads the file and
    changes one dataset's settings then changes only that dataset's."""

    def ignore_aliases(self, data):
        return True


def new_workdir(base: Path) -> Path:
    """A working folder with the tests' config.yaml (:func:`ci_config`;
    results go there)."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "config.yaml").write_text(yaml.dump(ci_config(), Dumper=_NoAliases, sort_keys=False))
    return base


