"""Reproducibility (issue #9): the same config and seeds give the same
numbers on the CPU, and every run records its package versions and its
effective configuration in the results.
"""

from __future__ import annotations

from importlib import metadata

import pandas as pd
import pytest
import yaml

from compare_results import NOT_COMPARED, VARYING, compare_datasets
from mima.config import dataset_settings
from mima.rehearsal import with_rehearsal
from pipeline_helpers import snakemake
from reliability_helpers import run_pipeline

#: The ci dataset run a second time. A full second `ci` run would cost about
#: 10 minutes of CI; ci_spatial alone covers most kinds of file the pipeline
#: writes: three modalities, counts and as-provided inputs, tissue
#: coordinates and its figures, classification and translation tables.
#: (ci_cite adds totalVI and enrichment; add it here when CI time allows.)
SECOND_RUN = ["ci_spatial"]


@pytest.fixture(scope="module")
def second_ci_run(ci_run, tmp_path_factory):
    """A second `snakemake ci` in a new workdir, same config and seeds,
    restricted to SECOND_RUN (``targets.ci`` overridden)."""
    config = yaml.safe_load((ci_run / "config.yaml").read_text())
    config["targets"]["ci"] = SECOND_RUN
    workdir = tmp_path_factory.mktemp("ci_second_run")
    result = run_pipeline(workdir, config, "ci")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


@pytest.mark.slow
def test_two_ci_runs_give_identical_embeddings_and_tables(ci_run, second_ci_run):
    """Every file of the datasets run twice is compared exactly -- each
    embedding's obsm arrays, the prepared data, MIMA's weights and outputs,
    every table -- except what is legitimately run-specific, listed by name
    in compare_results.NOT_COMPARED (logs, benchmarks, figures, checkpoints)
    and VARYING (runtime values)."""
    compared, problems = compare_datasets(ci_run, second_ci_run, SECOND_RUN)
    assert problems == []
    for dataset in SECOND_RUN:
        kinds = {path.split("/", 1)[1].split("/")[0] for path in compared if path.startswith(f"{dataset}/")}
        assert {"embeddings", "tables", "prepared.h5mu", "mima", "folds.tsv", "classification"} <= kinds, kinds
    embeddings = [path for path in compared if "/embeddings/" in path]
    assert len(embeddings) >= 7 * len(SECOND_RUN)  # MIMA and six competitors per dataset
    assert "tables/runtime.tsv" in VARYING and "logs/*" in NOT_COMPARED


@pytest.mark.slow
def test_two_ci_runs_give_identical_summary_rows(ci_run, second_ci_run):
    """The summary tables gather datasets: the second run's equal the
    first run's rows of the same datasets."""
    tables = sorted(p.name for p in (second_ci_run / "results" / "summary" / "ci").glob("*.tsv"))
    assert {"scib.tsv", "classification_loocv.tsv", "translation_mse.tsv", "runtime.tsv"} <= set(tables)
    read = dict(sep="\t", keep_default_na=False, na_values=[""])
    for name in tables:
        first = pd.read_csv(ci_run / "results" / "summary" / "ci" / name, **read)
        second = pd.read_csv(second_ci_run / "results" / "summary" / "ci" / name, **read)
        first = first[first["dataset"].isin(SECOND_RUN)].reset_index(drop=True)
        varying = VARYING.get(f"tables/{name}", [])
        pd.testing.assert_frame_equal(first.drop(columns=varying), second.drop(columns=varying), check_exact=True)


RECORDED = ["python", "torch", "scvi-tools", "scib-metrics", "scanpy", "anndata", "mudata", "numpy", "snakemake",
            "scipy", "pandas", "scikit-learn", "mima-pipeline"]


def test_the_run_records_package_versions(ci_run):
    versions = pd.read_csv(ci_run / "results" / "run_info" / "versions.tsv", sep="\t", dtype=str)
    assert list(versions.columns) == ["package", "version"]
    recorded = dict(zip(versions["package"], versions["version"]))
    assert set(RECORDED) <= set(recorded)
    for package in RECORDED[1:]:
        assert recorded[package] == metadata.version(package), package  # this environment's, not a guess
    assert recorded["python"].count(".") == 2


def test_the_run_records_the_effective_config(ci_run):
    """config.yaml in the results holds the global settings and every
    dataset's resolved settings (global defaults merged with its own)."""
    recorded = yaml.safe_load((ci_run / "results" / "run_info" / "config.yaml").read_text())
    config = yaml.safe_load((ci_run / "config.yaml").read_text())
    # the run's config holds the rehearsal's datasets and targets too (mima.rehearsal)
    mirror = recorded["datasets"]["rehearsal_neurips_cite"]["data_mirror"]
    assert recorded["targets"] == with_rehearsal(config, mirror)["targets"]
    assert recorded["seed"] == config["seed"]
    assert not [key for key in recorded if key.startswith("x-")]
    for name in config["datasets"]:
        expected = yaml.safe_load(yaml.safe_dump(dataset_settings(config, name)))
        assert recorded["datasets"][name] == expected, name
    cite = recorded["datasets"]["ci_cite"]
    assert cite["mima"]["model"]["latent_dim"] == 16  # the dataset's own value ...
    assert cite["mima"]["model"]["beta_poe"] == config["mima"]["model"]["beta_poe"]  # ... and a resolved default
    assert cite["mima"]["train"]["seed"] == config["seed"] and cite["method_params"]["scvi"]["max_epochs"] == 2


def test_a_changed_setting_reruns_the_record(ci_run, tmp_path):
    config = yaml.safe_load((ci_run / "config.yaml").read_text())
    config["datasets"]["ci_cite"]["mima"]["train"]["max_epochs"] = 4
    changed = tmp_path / "config.yaml"
    changed.write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(ci_run, "results/run_info/config.yaml", "-n", "--cores", "1", configfile=changed)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule run_info:" in result.stdout and "Params have changed" in result.stdout, result.stdout[-3000:]
