"""The SLURM profile as Snakemake reads it, without a cluster: the cluster
settings taken from the environment, the GPU switch, and rule names that
exist in the workflow (a renamed rule would otherwise silently lose its
cluster resources)."""

from __future__ import annotations

import re

import pytest

from pipeline_helpers import REPO, new_workdir, snakemake

PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
GPU_RULES = {"train_mima", "train_mima_fold", "embed_mima_unimodal", "embed_scvi", "embed_totalvi", "embed_multivi"}


def read_profile(monkeypatch, **env) -> dict:
    """The profile's command-line values, parsed by Snakemake with ``env`` set
    (and every other MIMA_SLURM_* variable unset)."""
    from snakemake.profiles import ProfileConfigFileParser

    for name in ("PARTITION", "ACCOUNT", "GPUS", "GPU_PARTITION", "GPU_MODEL"):
        monkeypatch.delenv(f"MIMA_SLURM_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with open(PROFILE) as stream:
        return ProfileConfigFileParser().parse(stream)


def per_rule(entries: list[str]) -> dict[str, dict[str, str]]:
    """``["rule:key=value", ...]`` as ``{rule: {key: value}}``."""
    rules: dict[str, dict[str, str]] = {}
    for entry in entries:
        rule, assignment = entry.split(":", 1)
        key, value = assignment.split("=", 1)
        rules.setdefault(rule, {})[key] = value
    return rules


def test_without_settings_no_partition_account_or_gpu(monkeypatch):
    profile = read_profile(monkeypatch)
    assert profile["executor"] == "slurm"
    defaults = dict(entry.split("=", 1) for entry in profile["default-resources"])
    assert "slurm_partition" not in defaults and "slurm_account" not in defaults
    resources = per_rule(profile["set-resources"])
    assert not [rule for rule, values in resources.items() if "gpu" in values or "slurm_partition" in values]
    # every rule's memory and time are given, and snakemake parses them
    from snakemake.cli import parse_set_resources

    assert set(parse_set_resources(profile["set-resources"])) == set(resources)
    assert all({"mem_mb", "runtime"} <= set(values) for values in resources.values())


def test_environment_sets_partition_account_and_gpus(monkeypatch):
    profile = read_profile(monkeypatch, MIMA_SLURM_PARTITION="short", MIMA_SLURM_ACCOUNT="lab42",
                           MIMA_SLURM_GPUS="2", MIMA_SLURM_GPU_PARTITION="gpu", MIMA_SLURM_GPU_MODEL="a100")
    defaults = dict(entry.split("=", 1) for entry in profile["default-resources"])
    assert (defaults["slurm_partition"], defaults["slurm_account"]) == ("short", "lab42")
    resources = per_rule(profile["set-resources"])
    with_gpu = {rule for rule, values in resources.items() if "gpu" in values}
    assert with_gpu == GPU_RULES
    for rule in GPU_RULES:
        assert (resources[rule]["gpu"], resources[rule]["gpu_model"], resources[rule]["slurm_partition"]) == (
            "2", "a100", "gpu")
    # CPU rules stay in the default partition
    assert "slurm_partition" not in resources["embed_mima"] and "slurm_partition" not in resources["prepare"]


def test_gpu_jobs_use_the_default_partition_unless_told(monkeypatch):
    resources = per_rule(read_profile(monkeypatch, MIMA_SLURM_PARTITION="short", MIMA_SLURM_GPUS="1")["set-resources"])
    assert all(resources[rule]["slurm_partition"] == "short" and resources[rule]["gpu"] == "1" for rule in GPU_RULES)
    assert not any("gpu_model" in resources[rule] for rule in GPU_RULES)


@pytest.mark.slow
def test_profile_names_only_rules_of_the_workflow(monkeypatch, tmp_path):
    profile = read_profile(monkeypatch, MIMA_SLURM_GPUS="1")
    named = set(per_rule(profile["set-resources"]))
    result = snakemake(new_workdir(tmp_path), "--list-rules", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    rules = set(re.findall(r"^(\w+)$", result.stdout, flags=re.MULTILINE))
    assert GPU_RULES <= rules
    assert named <= rules, f"the profile names rules the workflow lacks: {sorted(named - rules)}"


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_cluster_that_cannot_start_fails_the_tests(monkeypatch, ci):
    """Without SLURM the SLURM tests skip, saying why -- but never silently in
    CI: there they fail with the reason (apt failure, daemons already running)."""
    from slurm_cluster import unavailable

    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI is set.*apt-get failed"):
        unavailable("installing slurmd with apt-get failed: 404")


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_outside_ci_a_cluster_that_cannot_start_skips_with_the_reason(monkeypatch, ci):
    from slurm_cluster import unavailable

    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="daemons already run"):
        unavailable("Slurm daemons already run on this machine (slurmd:12)")
