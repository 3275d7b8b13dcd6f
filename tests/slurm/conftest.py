"""The local SLURM cluster the SLURM tests share: installed when missing,
started once per session, its daemons stopped by PID at the end. Where it
cannot run the tests skip, saying why -- except in CI (``CI`` set), where
they fail with the reason instead."""

from __future__ import annotations

import pytest

from slurm_cluster import LocalSlurm, install, missing_requirement, unavailable


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running single-node cluster (skips, saying why, where none can run;
    fails instead in CI)."""
    reason = missing_requirement() or install()
    if reason:
        unavailable(reason)
    # the node advertises room for the pipeline's real requests: two 8-thread
    # jobs at once, 8-16 GB a job and twice that on a retry (slurm_cluster's docstring)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), cpus=16, memory_mb=64000, gpus=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
