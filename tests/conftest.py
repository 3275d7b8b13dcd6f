"""Fixtures shared by every test."""

from __future__ import annotations

import mudata
import pytest

from helpers import make_mudata

mudata.set_options(pull_on_update=False)


@pytest.fixture
def paired():
    """120 random cells, a sparse and a dense modality, three samples."""
    return make_mudata()


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """Workdir after `snakemake ci --cores 2` succeeded: the one tiny
    end-to-end run that tests/pipeline and tests/reliability share (defined
    here, their common folder, so that it runs once per session)."""
    from pipeline_helpers import new_workdir, snakemake

    workdir = new_workdir(tmp_path_factory.mktemp("ci_run"))
    result = snakemake(workdir, "ci", "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
