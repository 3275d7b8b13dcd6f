"""Snakemake conventions, checked in CI: the workflow is snakefmt-formatted
and `snakemake --lint` has nothing to say; every rule has a log, a
benchmark and a conda env; scripts take the workflow's own library."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pipeline_helpers import REPO, new_workdir, snakemake

SNAKEFMT = [sys.executable, "-m", "snakefmt"]


def test_workflow_is_snakefmt_formatted():
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    result = subprocess.run([*SNAKEFMT, "--check", "--diff", *map(str, files)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, f"run `snakefmt Snakefile workflow/rules`:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"


@pytest.mark.slow
def test_snakemake_lint_is_clean(tmp_path):
    result = snakemake(new_workdir(tmp_path), "--lint")
    assert result.returncode == 0 and "Lints for" not in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]


def test_snakefile_states_its_minimum_snakemake():
    assert re.search(r'^min_version\("9\.\d+"\)', (REPO / "Snakefile").read_text(), re.M)


def test_every_rule_script_imports_the_workflow_library_first():
    """A job may run in a tool's conda env where `mima` is not installed:
    each script puts workflow/ first on sys.path before importing it."""
    for script in sorted((REPO / "workflow" / "scripts").glob("*.py")):
        if script.name.startswith("_"):
            continue
        code = [line for line in script.read_text().splitlines()
                if line.startswith(("import ", "from ")) and "__future__" not in line]
        assert code and code[0] == "import _workflow_library  # noqa: F401", script.name
