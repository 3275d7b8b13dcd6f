"""The local SLURM cluster the SLURM tests share: installed when missing,
started once per session, its daemons stopped by PID at the end."""

from __future__ import annotations

import pytest

from slurm_cluster import LocalSlurm, install, missing_requirement


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running single-node cluster (skips, saying why, where none can run)."""
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    failure = install()
    if failure:
        pytest.skip(failure)
    # the node advertises room for the pipeline's real requests: two 8-thread
    # jobs at once, 8-16 GB a job and twice that on a retry (slurm_cluster's docstring)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), cpus=16, memory_mb=64000, gpus=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
