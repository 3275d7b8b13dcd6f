"""The rehearsal: the `paper` DAG on stand-ins of the study's datasets.

Real here: the rehearsal's DAG (the `paper` DAG plus the stand-ins, checked
job for job by a dry run), the download code (mirror look-up, sha256 lock of
the GEO files, the Zenodo record's file list and md5s), the GEO and Zenodo
readers, the published file layouts the stand-ins are written in, and on
them the rules whose code paths are new for the study's data: MIMA's
outputs and held-out predictions written a block of cells at a time, the
streaming translation tables and the study's own translation-map features
(NEFH, m/z 702.544). End to end CI runs the multiome (GEO) and the spatial
(Zenodo) stand-ins; the CITE-seq stand-in shares the GEO path and is read
by the unit tests (tests/unit/test_study_standins.py). The competitors,
scIB, classification and UMAPs run on the same prepared-data contract in
the tests' `ci` run, so CI does not repeat them here (the whole DAG takes
~40 minutes on 2 cores even at this size). Stood in: the data (simulated,
tiny in CI; the full-size rehearsal is a benchmark,
`benchmarks/rehearsal_table.py` and docs/performance.md) and the servers
(the mirror folder replaces GEO's FTP and zenodo.org).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import mudata as md
import pandas as pd
import pytest
import yaml

from mima.status import is_ok
from pipeline_helpers import new_workdir, snakemake
from test_pipeline import jobs_by_dataset

TWINS = ["rehearsal_pca_spatial", "rehearsal_neurips_cite", "rehearsal_neurips_multiome"]
#: What CI builds of which stand-ins (module docstring).
TINY_TWINS = ["rehearsal_pca_spatial", "rehearsal_neurips_multiome"]
TINY_TARGETS = ["mima/outputs.h5mu", "tables/translation_r2.tsv"]


def job_counts(dry_run_output: str) -> Counter:
    """{rule: number of jobs} of a dry run's job-stats table."""
    counts, in_table = Counter(), False
    for line in dry_run_output.splitlines():
        fields = line.split()
        if fields[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(fields) == 2 and fields[1].isdigit():
            if fields[0] == "total":
                break
            counts[fields[0]] = int(fields[1])
    return counts


def test_the_rehearsal_is_the_paper_dag_plus_the_standins(tmp_path):
    workdir = new_workdir(tmp_path)
    paper = snakemake(workdir, "paper", "-n", "--cores", "2")
    rehearsal = snakemake(workdir, "rehearsal", "-n", "--cores", "2")
    assert paper.returncode == 0 and rehearsal.returncode == 0, rehearsal.stderr[-3000:]
    paper_jobs, rehearsal_jobs = job_counts(paper.stdout), job_counts(rehearsal.stdout)
    assert paper_jobs, paper.stdout[-2000:]
    extra = {"standin_geo": 2, "standin_zenodo": 1, "rehearsal": 1}
    assert rehearsal_jobs - paper_jobs == Counter(extra)
    assert paper_jobs - rehearsal_jobs == Counter({"paper": 1})
    per_dataset = jobs_by_dataset(rehearsal.stdout)
    assert set(per_dataset) == set(TWINS)
    one = snakemake(workdir, "rehearsal_neurips_cite", "-n", "--cores", "2")
    assert one.returncode == 0, one.stderr[-3000:]
    assert set(jobs_by_dataset(one.stdout)) == {"rehearsal_neurips_cite"}


@pytest.fixture(scope="module")
def tiny_rehearsal(tmp_path_factory):
    """The rehearsal's size-dependent rules (module docstring) on stand-ins
    at ~0.6 % of the study's cells and 3 % of its features, with the tests'
    short training (the full-size rehearsal's settings are config.yaml's)."""
    workdir = new_workdir(tmp_path_factory.mktemp("rehearsal"))
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["rehearsal"] = {
        "scale": 0.006,
        "feature_scale": 0.03,
        "settings": {"mima": {"train": {"max_steps": 30, "batch_size": 64}, "model": {"latent_dim": 16}}},
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [f"results/{twin}/{path}" for twin in TINY_TWINS for path in TINY_TARGETS]
    targets.append("results/rehearsal_pca_spatial/figures/translation_maps.png")
    result = snakemake(workdir, *targets, "--cores", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, config


@pytest.mark.slow
def test_mima_outputs_and_translation_succeed_on_the_standins(tiny_rehearsal):
    workdir, _ = tiny_rehearsal
    for twin in TINY_TWINS:
        base = workdir / "results" / twin
        outputs = md.read_h5mu(base / "mima" / "outputs.h5mu")
        assert is_ok(outputs), f"{twin}: {outputs.uns.get('reason')}"
        prepared = md.read_h5mu(base / "prepared.h5mu")
        for modality in prepared.mod:
            layers = outputs.mod[modality].layers
            assert layers["denoised"].shape == prepared.mod[modality].shape
            assert {f"translated_from_{n}" for n in prepared.mod if n != modality} < set(layers)
        r2 = pd.read_csv(base / "tables" / "translation_r2.tsv", sep="\t")
        assert r2["value"].notna().any() and set(r2["method"]) >= {"mima"}


@pytest.mark.slow
def test_the_standins_went_through_the_real_downloads(tiny_rehearsal):
    workdir, _ = tiny_rehearsal
    downloads = workdir / "downloads"
    lock = (downloads / "standin-mirror" / "geo" / "checksums.lock.tsv").read_text()
    (geo,) = (downloads / "rehearsal_neurips_multiome" / "geo").iterdir()
    assert geo.name == "GSE194122_openproblems_neurips2021_multiome_BMMC_processed.h5ad.gz"
    digest = hashlib.sha256(geo.read_bytes()).hexdigest()
    assert f"{geo.name}\t{digest}" in lock  # verified against the mirror's lock
    record = json.loads((downloads / "rehearsal_pca_spatial" / "record.json").read_text())
    keys = {entry["key"] for entry in record["files"]}
    assert {"rna.h5ad", "msi.h5ad", "morphology.h5ad"} <= keys


@pytest.mark.slow
def test_the_standins_have_the_study_layout_and_settings(tiny_rehearsal):
    workdir, _ = tiny_rehearsal
    multiome = md.read_h5mu(workdir / "results" / "rehearsal_neurips_multiome" / "prepared.h5mu")
    assert multiome.obs["batch"].nunique() == 13
    assert all(name.startswith("chr") for name in multiome.mod["atac"].var_names[:5])  # 5 kb bins
    spatial = md.read_h5mu(workdir / "results" / "rehearsal_pca_spatial" / "prepared.h5mu")
    assert list(spatial.mod) == ["rna", "msi", "morphology"] and spatial.obs["batch"].nunique() == 16
    assert "spatial" in spatial.obsm
    assert (workdir / "results" / "rehearsal_pca_spatial" / "figures" / "translation_maps.png").exists()
