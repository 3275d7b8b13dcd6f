"""The pipeline on a real (local, single-node) SLURM cluster, through
``--executor slurm`` and the repository's profile ``workflow/profiles/slurm``.

One Snakemake run submits a handful of jobs: the tiny ``ci_cite`` dataset
read, prepared, embedded by PCA and used to train MIMA (a GPU rule: the
test enables GPUs, and the node advertises one), plus one dataset whose
input is not HDF5, which fails, is retried once and fails again. The same
good targets are built by a local run at the same time, to compare.
Deselect with ``-m "not slurm"``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline_helpers import REPO

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = REPO / "workflow" / "profiles" / "slurm"
GOOD = ["results/ci_cite/embeddings/pca.h5ad", "results/ci_cite/mima/model"]
BROKEN = "results/slurm_broken/raw.h5mu"
# A local cluster has no accounting database: job states come from squeue
# (finished jobs stay visible for the cluster's MinJobAge). The first status
# check comes 10 s after a submission (default 40 s); each check that finds
# no job done waits 10 s longer than the last (the plugin's back-off), so a
# job of these 10-20 s is seen done after 10 or 30 s.
SLURM_OPTIONS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "10"]
# The profile's cluster settings, as a user sets them (partitions of the
# local cluster, one GPU per training job).
SLURM_ENV = {"MIMA_SLURM_PARTITION": "mimatest", "MIMA_SLURM_GPU_PARTITION": "mimagpu", "MIMA_SLURM_GPUS": "1"}
LIMIT = 420  # seconds for one Snakemake run (it takes ~1-2 minutes)


@dataclass
class Run:
    """A finished Snakemake run: its folder, exit status and log."""

    workdir: Path
    returncode: int
    log: str


def write_config(workdir: Path) -> Path:
    """config.yaml plus ``slurm_broken``: a dataset whose files are not HDF5."""
    workdir.mkdir(parents=True, exist_ok=True)
    broken = workdir / "not_hdf5.h5ad"
    broken.write_text("this is not an HDF5 file\n")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["datasets"]["slurm_broken"] = {
        "source": "files",
        "files": {"rna": str(broken), "adt": str(broken)},
        "batch_key": "batch",
        "methods": ["pca"],
        "modalities": {"rna": {"preprocess": "log_normalize", "hvf": True}, "adt": {"preprocess": "log_normalize"}},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_snakemake(workdir: Path, targets: list[str], options: list[str], env: dict) -> subprocess.Popen:
    """Start Snakemake in ``workdir`` under ``timeout -k`` (a run that hangs
    is killed, and with it its polling). It is this interpreter's Snakemake,
    and the executor submits jobs that run the same interpreter."""
    config = write_config(workdir)
    command = ["timeout", "-k", "15", str(LIMIT), sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
               "--directory", str(workdir), *targets, *options, "--configfile", str(config)]
    log = open(workdir / "snakemake.out", "w")
    with log:
        return subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def finish(process: subprocess.Popen) -> Run:
    """Wait for a run started by ``start_snakemake``."""
    workdir = Path(process.args[process.args.index("--directory") + 1])
    try:
        returncode = process.wait(timeout=LIMIT + 60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        returncode = process.wait(timeout=30)
    return Run(workdir, returncode, (workdir / "snakemake.out").read_text(errors="replace"))


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """The SLURM run (good and broken targets) and a local run of the good
    targets, side by side: ``{"slurm": Run, "local": Run}``."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("MIMA_SLURM_")}
    local = start_snakemake(tmp_path_factory.mktemp("local_run"), GOOD, ["--cores", "2"], base)
    slurm = start_snakemake(tmp_path_factory.mktemp("slurm_run"), [*GOOD, BROKEN],
                            ["--profile", str(PROFILE), *SLURM_OPTIONS], {**base, **SLURM_ENV})
    slurm_run, local_run = finish(slurm), finish(local)
    assert slurm_run.returncode != 124, f"the SLURM run did not end within {LIMIT} s:\n{slurm_run.log[-4000:]}"
    assert local_run.returncode == 0, local_run.log[-4000:]
    return {"slurm": slurm_run, "local": local_run}


def submissions(run: Run) -> dict[str, str]:
    """``{SLURM job id: Snakemake job id}`` of every submission in the log."""
    pattern = r"Job (\d+) has been submitted with SLURM jobid (\d+)"
    return {slurm_id: job for job, slurm_id in re.findall(pattern, run.log)}


def jobs_of(cluster, run: Run, comment: str) -> list[dict]:
    """SLURM's record of the run's jobs whose comment (rule and wildcards) is ``comment``."""
    ids = sorted(submissions(run), key=int)
    return [{"id": job_id, **cluster.job_details(job_id)} for job_id in ids
            if cluster.jobs().get(job_id, {}).get("comment") == comment]


def test_every_job_ran_through_slurm(runs, slurm_cluster):
    run = runs["slurm"]
    submitted = submissions(run)
    known = slurm_cluster.jobs()
    comments = sorted(known[job_id]["comment"] for job_id in submitted)
    assert comments == sorted([
        "rule_raw_dataset_wildcards_ci_cite", "rule_prepare_wildcards_ci_cite",
        "rule_embed_pca_wildcards_ci_cite", "rule_train_mima_wildcards_ci_cite",
        "rule_raw_dataset_wildcards_slurm_broken", "rule_raw_dataset_wildcards_slurm_broken",
    ]), run.log[-4000:]
    for job_id in submitted:
        if "slurm_broken" not in known[job_id]["comment"]:
            assert known[job_id]["state"] == "COMPLETED", (job_id, known[job_id])
        # the job ran this interpreter's Snakemake (the venv's), as one job step
        script = slurm_cluster.batch_script(job_id)
        assert f"{sys.executable} -m snakemake" in script, script
        assert "--executor slurm-jobstep" in script, script


def test_profile_resources_reach_sbatch(runs, slurm_cluster):
    run = runs["slurm"]
    [train] = jobs_of(slurm_cluster, run, "rule_train_mima_wildcards_ci_cite")
    [pca] = jobs_of(slurm_cluster, run, "rule_embed_pca_wildcards_ci_cite")
    # MIMA_SLURM_GPUS=1: the training rule asks for one GPU, in the GPU partition
    assert train["TresPerJob"] == "gres:gpu:1", train
    assert train["Partition"] == "mimagpu"
    assert "TresPerJob" not in pca, pca
    assert pca["Partition"] == "mimatest"
    # the rules' threads (8) become --cpus-per-task; set-resources give memory and time
    assert train["CPUs/Task"] == pca["CPUs/Task"] == "8"
    assert train["MinMemoryNode"] == pca["MinMemoryNode"] == "8000M"
    assert (train["TimeLimit"], pca["TimeLimit"]) == ("12:00:00", "02:00:00")


def test_outputs_match_a_local_run(runs):
    import anndata as ad

    slurm, local = runs["slurm"].workdir, runs["local"].workdir
    on_slurm, here = ad.read_h5ad(slurm / GOOD[0]), ad.read_h5ad(local / GOOD[0])
    assert list(on_slurm.obs_names) == list(here.obs_names)
    assert sorted(on_slurm.obsm) == sorted(here.obsm) and len(here.obsm) > 0
    for key in here.obsm:
        scale = np.abs(here.obsm[key]).max()
        np.testing.assert_allclose(on_slurm.obsm[key], here.obsm[key], rtol=1e-4, atol=1e-5 * scale)
    # MIMA trained the same way: the same settings, the same losses epoch by epoch
    model_slurm, model_here = slurm / GOOD[1], local / GOOD[1]
    assert (model_slurm / "model.json").read_text() == (model_here / "model.json").read_text()
    history_slurm = pd.read_csv(model_slurm / "history.tsv", sep="\t")
    history_here = pd.read_csv(model_here / "history.tsv", sep="\t")
    assert list(history_slurm.columns) == list(history_here.columns) and len(history_here) > 0
    numeric = history_here.select_dtypes("number").columns
    np.testing.assert_allclose(history_slurm[numeric].to_numpy(), history_here[numeric].to_numpy(), rtol=1e-3)


def test_a_failing_job_is_reported_as_failed(runs, slurm_cluster):
    run = runs["slurm"]
    assert run.returncode not in (0, 124), run.log[-4000:]
    attempts = jobs_of(slurm_cluster, run, "rule_raw_dataset_wildcards_slurm_broken")
    assert [job["JobState"] for job in attempts] == ["FAILED", "FAILED"], attempts
    # the retry asks for twice the memory and time (the profile's `* attempt`)
    assert [job["MinMemoryNode"] for job in attempts] == ["8000M", "16000M"]
    assert [job["TimeLimit"] for job in attempts] == ["02:00:00", "04:00:00"]
    for job in attempts:
        assert f"SLURM-job '{job['id']}' failed" in run.log
    assert "Error in rule raw_dataset" in run.log
    # the job's own error reaches the user: the file that is not HDF5
    assert "is not an HDF5" in run.log, run.log[-4000:]
    assert not (run.workdir / BROKEN).exists()
    # --keep-going: the other jobs still finished
    assert all((run.workdir / target).exists() for target in GOOD)
