"""One tiny end-to-end run of the `ci` target, shared by the pipeline tests."""

from __future__ import annotations

import pytest

from pipeline_helpers import new_workdir, snakemake


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """Workdir after `snakemake ci --cores 2` succeeded."""
    workdir = new_workdir(tmp_path_factory.mktemp("ci_run"))
    result = snakemake(workdir, "ci", "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
