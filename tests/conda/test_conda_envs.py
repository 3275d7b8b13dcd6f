"""Every conda env file (``envs/``) built and used through Snakemake's own
conda code: ``--sdm conda`` with a stand-in ``conda`` first on ``PATH``.

What is real: Snakemake's conda code path (it hashes each env file, copies
it to ``<conda-prefix>/<hash>.yaml``, runs ``conda env create --file <copy>
--prefix <conda-prefix>/<hash>``, sources ``<conda base>/bin/activate`` before
each job and runs the script with the env's ``python``), the env files and
their pins, and the pipeline's jobs in those envs.

What is stood in: conda's solver and the conda-forge / bioconda channels,
which these machines cannot reach. The stand-in (``standin/``) builds each
env as a virtual environment with uv, installing for every conda package the
PyPI distribution of the same version that ``conda_to_pypi.yaml`` names, and
the ``pip:`` section as written; torch is the CPU build.

The run: the ``ci_spatial`` dataset of the ``ci`` target, the one tiny ci
dataset whose jobs use every env file (MIMA, PCA, Harmony, Scanorama, scVI,
MOFA+, MIMA-Unimodal, scIB, classification, figures). ``ci_cite`` and
``ci_multiome`` add totalVI and MultiVI (env ``scvi``) and enrichment (env
``evaluate``) but no env file; they are left out to keep CI time. Snakemake
first builds the envs (``--conda-create-envs-only``), then runs; the results
are compared file by file with the plain ``ci`` run (``ci_run``), as the
reproducibility test compares two runs.

Snakemake appends its own import path to every script's (to unpickle the
``snakemake`` object), so run from the tests' venv a package missing from an
env file would be imported from that venv unnoticed. Here Snakemake runs from
a virtual environment of its own holding only Snakemake and what the
Snakefile imports (jsonschema and the library's core dependencies: numpy,
scipy, pandas, anndata, mudata, h5py, PyYAML, tqdm), as on a cluster where
Snakemake has its own small env.

Nothing here skips: without uv, or when an env cannot be built, the tests
fail with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compare_results import TOLERANCE, VARYING, compare_datasets
from mima.utils import INTERPRETER_LINE
from pipeline_helpers import REPO, ci_config

pytestmark = pytest.mark.conda

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "standin"
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
CONDA_DATASETS = ["ci_spatial"]
LIMIT = 3600  # seconds before a Snakemake call counts as hung (each takes 2-4 minutes on 2 idle cores)


def snakemake_venv_packages() -> list[str]:
    """What Snakemake's own venv holds: Snakemake, jsonschema (the config's
    validation) and the library's core dependencies (pyproject.toml), which
    the Snakefile imports through mima.config and mima.methods."""
    core = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return ["snakemake", "jsonschema", *(re.split(r"[<>=!~;\[ ]", item, maxsplit=1)[0] for item in core)]


def uv_executable() -> str:
    """uv: ``MIMA_CONDA_STANDIN_UV``, the ``uv`` package of this venv
    (requirements.lock), or ``uv`` on PATH; fails (never skips) without it."""
    found = os.environ.get("MIMA_CONDA_STANDIN_UV")
    if not found:
        try:
            from uv import find_uv_bin

            found = find_uv_bin()
        except (ImportError, FileNotFoundError):
            found = shutil.which("uv")
    if not found:
        pytest.fail("the conda test builds its envs with uv, which is not installed: "
                    "install requirements.lock (it pins uv), or set MIMA_CONDA_STANDIN_UV")
    return found


def standin_environment(uv: str) -> dict[str, str]:
    """The environment of a Snakemake run with the stand-in: its ``conda``
    first on PATH, run by this Python, building with ``uv``; no PYTHONPATH
    (the Snakefile finds the library itself, and the jobs must not see more)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PATH=f"{STANDIN / 'bin'}:{os.environ.get('PATH', '')}", MIMA_CONDA_STANDIN_PYTHON=sys.executable,
               MIMA_CONDA_STANDIN_UV=uv)
    return env


def conda(*args: str, uv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The stand-in, called as Snakemake calls conda (through the shell, found on PATH)."""
    return subprocess.run(["bash", "-c", 'conda "$@"', "conda", *args], capture_output=True, text=True,
                          env=standin_environment(uv), cwd=cwd, timeout=LIMIT)


@dataclass
class CondaRun:
    """A finished ``--sdm conda`` run of CONDA_DATASETS."""

    workdir: Path
    prefix: Path  # --conda-prefix
    python: Path  # the Python of Snakemake's own venv
    uv: str
    created: list[dict]  # the stand-in's records of `conda env create`, in order
    create_seconds: float  # --conda-create-envs-only
    run_seconds: float

    def snakemake(self, *args: str) -> list[str]:
        return [str(self.python), "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                str(self.workdir), "--configfile", str(self.workdir / "config.yaml"), "--sdm", "conda",
                "--conda-prefix", str(self.prefix), "--cores", "2", *args]

    def env_of_file(self) -> dict[str, Path]:
        """``{env file name: env prefix}``, from Snakemake's copies of the env files."""
        names = {path.read_bytes(): path.name for path in ENV_FILES}
        return {names[Path(record["file"]).read_bytes()]: Path(record["prefix"]) for record in self.created}


def build_snakemake_venv(folder: Path, uv: str) -> Path:
    """A venv holding only :func:`snakemake_venv_packages`, at requirements.lock's versions."""
    cache = os.environ.get("MIMA_CONDA_STANDIN_CACHE") or Path.home() / ".cache" / "mima-conda-standin" / "uv"
    steps = [[uv, "venv", "--quiet", "--no-project", "--no-config", "--python", sys.executable, str(folder)],
             [uv, "pip", "install", "--quiet", "--no-config", "--cache-dir", str(cache), "--python",
              str(folder / "bin" / "python"), "--constraint", str(REPO / "requirements.lock"), *snakemake_venv_packages()]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=LIMIT)
        if result.returncode != 0:
            pytest.fail(f"building Snakemake's venv failed: {' '.join(step)}\n{result.stderr[-3000:]}")
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def conda_run(tmp_path_factory) -> CondaRun:
    """``snakemake ci --sdm conda`` on CONDA_DATASETS: the envs built first
    (``--conda-create-envs-only``), then the run."""
    uv = uv_executable()
    base = tmp_path_factory.mktemp("conda_run")
    config = ci_config()
    config["targets"]["ci"] = CONDA_DATASETS
    workdir = base / "work"
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run = CondaRun(workdir, base / "conda", build_snakemake_venv(base / "snakemake_venv", uv), uv, [], 0.0, 0.0)
    for step, args in (("create_seconds", ["--conda-create-envs-only", "ci"]), ("run_seconds", ["ci"])):
        started = time.monotonic()
        result = subprocess.run(run.snakemake(*args), capture_output=True, text=True, cwd=workdir,
                                env=standin_environment(uv), timeout=LIMIT)
        setattr(run, step, time.monotonic() - started)
        if result.returncode != 0:
            pytest.fail(f"snakemake {' '.join(args)} --sdm conda failed:\n{result.stderr[-6000:]}")
    log = run.prefix / "conda-standin-envs.jsonl"
    run.created = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    builds = ", ".join(f"{Path(r['file']).name} ({r['name']}) {r['seconds']} s" for r in run.created)
    print(f"\nconda run: envs built in {run.create_seconds:.0f} s [{builds}]; pipeline {run.run_seconds:.0f} s")
    return run


# --- the stand-in itself (seconds) ----------------------------------------------


def test_the_standin_answers_what_snakemake_asks_and_refuses_the_rest(tmp_path):
    uv = uv_executable()
    version = conda("--version", uv=uv)
    assert version.returncode == 0 and len(re.findall(r"\d+\.\d+\.\d+", version.stdout)) == 1, version
    info = json.loads(conda("info", "--json", uv=uv).stdout)
    assert Path(info["conda_prefix"]) == STANDIN and (STANDIN / "bin" / "activate").is_file()
    assert info["platform"] == "linux-64"
    priority = json.loads(conda("config", "--get", "channel_priority", "--json", uv=uv).stdout)
    assert priority["get"]["channel_priority"] == "strict"
    for unknown in (["install", "numpy"], ["env", "create", "--name", "x", "--file", "x.yaml"], ["list"]):
        result = conda(*unknown, uv=uv)
        assert result.returncode != 0 and "conda stand-in" in result.stderr, (unknown, result)


def test_a_relative_pip_path_fails_as_under_conda(tmp_path):
    """The bug of the old env files: ``-e ../[extra]`` resolves from the
    folder of Snakemake's copy of the env file (``<conda-prefix>/``), which
    holds no project, so the build fails, as it does under conda."""
    uv = uv_executable()
    prefix = tmp_path / ".snakemake" / "conda"
    prefix.mkdir(parents=True)
    copy = prefix / "0123abcd.yaml"
    copy.write_text(yaml.safe_dump({"channels": ["conda-forge"],
                                    "dependencies": ["python=3.11", "pip", {"pip": ["-e ../[plot]"]}]}))
    result = conda("env", "create", "--quiet", "--no-default-packages", "--file", str(copy),
                   "--prefix", str(prefix / "0123abcd"), uv=uv, cwd=tmp_path)
    assert result.returncode != 0, result
    assert f"{tmp_path / '.snakemake'}` does not appear to be a Python project" in result.stderr, result.stderr
    assert not (prefix / "conda-standin-envs.jsonl").exists()  # nothing recorded as built


# --- Snakemake through the stand-in (minutes) -------------------------------------


@pytest.mark.slow
def test_every_env_file_is_created_once(conda_run):
    """Across ``--conda-create-envs-only`` and the run: each env file of
    envs/ built exactly once (the run reuses the envs)."""
    names = Counter(path.name for path in ENV_FILES)
    copies = Counter()
    files = {path.read_bytes(): path.name for path in ENV_FILES}
    for record in conda_run.created:
        copy = Path(record["file"])
        # Snakemake's copy of the env file, <conda-prefix>/<hash>.yaml, beside the env <conda-prefix>/<hash>
        assert copy.parent == conda_run.prefix and copy.with_suffix("") == Path(record["prefix"]), record
        assert copy.read_bytes() in files, f"{copy} is a copy of no env file"
        copies[files[copy.read_bytes()]] += 1
    assert copies == names, f"created {dict(copies)}; expected each of {sorted(names)} once"


@pytest.mark.slow
def test_every_job_ran_with_the_python_of_its_rules_env(conda_run):
    """Each job's log begins with the interpreter that ran it
    (mima.utils.log_to); it must be the ``python`` of the env its rule names."""
    summary = subprocess.run(conda_run.snakemake("--summary", "ci"), capture_output=True, text=True,
                             cwd=conda_run.workdir, env=standin_environment(conda_run.uv), timeout=LIMIT)
    assert summary.returncode == 0, summary.stderr[-3000:]
    rows = [line.split("\t") for line in summary.stdout.splitlines() if "\t" in line]
    header = rows[0]
    logs = {}
    for row in rows[1:]:
        entry = dict(zip(header, row))
        for log in entry["log-file(s)"].split(","):
            if log != "-":
                logs[log] = entry["rule"]
    described = subprocess.run([sys.executable, str(REPO / "tests" / "reliability" / "workflow_rules.py"),
                                str(REPO / "Snakefile"), str(conda_run.workdir / "config.yaml"),
                                str(conda_run.workdir)], capture_output=True, text=True, timeout=LIMIT)
    line = next(line for line in described.stdout.splitlines() if line.startswith("RULES-JSON "))
    env_file_of_rule = {rule["name"]: rule["conda"] for rule in json.loads(line[len("RULES-JSON "):])}
    prefix_of = conda_run.env_of_file()
    used = Counter()
    for log, rule in sorted(logs.items()):
        env_file = Path(env_file_of_rule[rule])
        assert env_file.parent == REPO / "envs", (rule, env_file)
        first = (conda_run.workdir / log).read_text().splitlines()[0]
        assert first.startswith(INTERPRETER_LINE), (log, first)
        interpreter = Path(first[len(INTERPRETER_LINE):])
        expected = prefix_of[env_file.name] / "bin" / "python"
        assert interpreter == expected, f"{log} (rule {rule}, {env_file.name}) ran with {interpreter}"
        used[env_file.name] += 1
    assert set(used) == {path.name for path in ENV_FILES}, f"jobs per env file: {dict(used)}"
    assert sum(used.values()) >= 40, used


@pytest.mark.slow
def test_torch_in_the_envs_is_the_cpu_build(conda_run):
    """torch of the mima and scvi envs, asked through ``conda run``."""
    for name in ("mima.yaml", "scvi.yaml"):
        prefix = conda_run.env_of_file()[name]
        result = conda("run", "--prefix", str(prefix), "python", "-c",
                       "import sys, torch; print(sys.prefix); print(torch.__version__)", uv=conda_run.uv)
        assert result.returncode == 0, result.stderr[-2000:]
        env_prefix, version = result.stdout.split()
        assert Path(env_prefix) == prefix, (name, env_prefix)
        assert version.startswith("2.13.0") and "+cu" not in version, (name, version)
        record = next(r for r in conda_run.created if r["prefix"] == str(prefix))
        if record["torch"].endswith("+cpu"):  # the local CPU wheel of pip's find-links
            assert version == "2.13.0+cpu", (name, version)


@pytest.mark.slow
def test_results_equal_the_run_without_conda(ci_run, conda_run):
    """Same files, same numbers as the plain ``ci`` run (except what
    compare_results lists as run-specific: logs, benchmarks, figures,
    checkpoints, runtimes), and the same summary rows."""
    compared, problems = compare_datasets(ci_run, conda_run.workdir, CONDA_DATASETS)
    assert problems == []
    assert len([path for path in compared if "/embeddings/" in path]) >= 7  # MIMA and six competitors
    read = dict(sep="\t", keep_default_na=False, na_values=[""])
    tables = sorted(path.name for path in (conda_run.workdir / "results" / "summary" / "ci").glob("*.tsv"))
    assert {"scib.tsv", "classification_loocv.tsv", "translation_mse.tsv", "runtime.tsv"} <= set(tables)
    for name in tables:
        plain = pd.read_csv(ci_run / "results" / "summary" / "ci" / name, **read)
        plain = plain[plain["dataset"].isin(CONDA_DATASETS)].reset_index(drop=True)
        in_conda = pd.read_csv(conda_run.workdir / "results" / "summary" / "ci" / name, **read)
        varying = VARYING.get(f"tables/{name}", [])
        rtol = TOLERANCE.get(f"tables/{name}")  # scIB: one-ulp rounding, see compare_results.TOLERANCE
        pd.testing.assert_frame_equal(plain.drop(columns=varying), in_conda.drop(columns=varying),
                                      check_exact=rtol is None, rtol=rtol or 0.0, atol=0.0)
