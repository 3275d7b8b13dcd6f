"""The Snakemake pipeline end to end on the tiny `ci` target."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import yaml

from mima.config import dataset_settings
from pipeline_helpers import REPO, ci_config, new_workdir, snakemake

SHARED_STARTER = REPO.parent / "shared" / "data" / "bmmc_cite_starter"


def jobs_by_dataset(dry_run_output: str) -> dict[str, set[str]]:
    """{dataset: {rule, ...}} of the jobs a dry run would execute."""
    jobs: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=\[|rule |localrule )", dry_run_output):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        dataset = re.search(r"wildcards: .*dataset=(\w+)", block)
        if rule and dataset:
            jobs.setdefault(dataset.group(1), set()).add(rule.group(1))
    return jobs


def test_paper_dag_dry_runs(tmp_path):
    workdir = new_workdir(tmp_path)
    result = snakemake(workdir, "paper", "-n", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = jobs_by_dataset(result.stdout + result.stderr)
    assert set(jobs) == {"pca_spatial", "neurips_cite", "neurips_multiome"}
    assert {"embed_totalvi", "embed_mofa", "embed_scvi", "runtime_table"} <= jobs["neurips_cite"]
    assert "embed_multivi" in jobs["neurips_multiome"] and "embed_totalvi" not in jobs["neurips_multiome"]
    assert "download_zenodo" in jobs["pca_spatial"] and "download_geo" in jobs["neurips_cite"]
    assert {"raw_dataset", "prepare", "folds", "train_mima", "embed_mima", "mima_outputs"} <= jobs["neurips_multiome"]


def test_demo_is_simulated_and_the_starters_have_their_own_target(tmp_path):
    """`snakemake` (demo) runs offline on the simulator alone; `snakemake
    starters` reads the real starters from data_mirror, or leaves them out
    with a note where the mirror lacks them."""
    workdir = new_workdir(tmp_path)
    demo = snakemake(workdir, "-n", "--cores", "2")
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert set(jobs_by_dataset(demo.stdout + demo.stderr)) == {"sim_spatial", "sim_cite", "sim_multiome"}
    starters = snakemake(workdir, "starters", "-n", "--cores", "2")
    assert starters.returncode == 0, starters.stderr[-3000:]
    jobs = jobs_by_dataset(starters.stdout + starters.stderr)
    if SHARED_STARTER.is_dir():
        assert set(jobs) == {"bmmc_cite_starter", "bmmc_multiome_starter"}
        assert {"download_file", "embed_totalvi"} <= jobs["bmmc_cite_starter"]
    else:
        assert not jobs and "left out of target starters" in starters.stderr


def test_ci_target_builds_every_contracted_file(ci_run):
    for dataset, modalities in {"ci_cite": ["rna", "adt"], "ci_multiome": ["rna", "atac"],
                                "ci_spatial": ["rna", "msi", "morphology"]}.items():
        base = ci_run / "results" / dataset
        prepared = md.read_h5mu(base / "prepared.h5mu")
        assert list(prepared.mod) == modalities
        assert "batch" in prepared.obs and "label" in prepared.obs
        for m in modalities:
            assert list(prepared.mod[m].obs_names) == list(prepared.obs_names)
            assert prepared.mod[m].X.dtype == np.float32 and prepared.mod[m].var["hvf"].dtype == bool
        embeddings = ad.read_h5ad(base / "embeddings" / "mima.h5ad")
        expected = {"poe"} | {f"{kind}_{m}" for m in modalities for kind in ("private", "batch")}
        assert set(embeddings.obsm) == expected
        assert embeddings.obsm["poe"].shape == (prepared.n_obs, 16)
        assert embeddings.uns["method"]["name"] == "mima" and embeddings.uns["status"] == "ok"
        outputs = md.read_h5mu(base / "mima" / "outputs.h5mu")
        for m in modalities:
            others = {f"translated_from_{n}" for n in modalities if n != m}
            assert set(outputs.mod[m].layers) == {"denoised", "batch_corrected"} | others
        folds = pd.read_csv(base / "folds.tsv", sep="\t")
        assert list(folds["cell"]) == list(prepared.obs_names) and set(folds["fold"]) == {0, 1, 2, 3}
        assert (base / "benchmarks" / "train_mima.tsv").exists() and (base / "logs" / "train_mima.log").exists()
    spatial = md.read_h5mu(ci_run / "results" / "ci_spatial" / "prepared.h5mu")
    assert spatial.obsm["spatial"].shape == (spatial.n_obs, 2)
    atac = md.read_h5mu(ci_run / "results" / "ci_multiome" / "prepared.h5mu").mod["atac"]
    assert all(re.fullmatch(r"chr\w+-\d+-\d+", name) for name in atac.var_names)
    assert all(int(name.split("-")[1]) % 5000 == 0 for name in atac.var_names)


def test_every_method_of_every_dataset_ran(ci_run):
    config = ci_config()
    for dataset in ("ci_cite", "ci_multiome", "ci_spatial"):
        methods = dataset_settings(config, dataset)["methods"]
        runtime = pd.read_csv(ci_run / "results" / dataset / "tables" / "runtime.tsv", sep="\t")
        assert set(runtime["method"]) == {"mima", *methods}
        assert set(runtime["status"]) == {"ok"} and (runtime["value"] > 0).all()
        for method in methods:
            embeddings = ad.read_h5ad(ci_run / "results" / dataset / "embeddings" / f"{method}.h5ad")
            assert embeddings.uns["status"] == "ok" and len(embeddings.obsm) > 0, (dataset, method)
            assert all(np.isfinite(v).all() for v in embeddings.obsm.values())
            assert embeddings.uns["method"]["name"] == method and embeddings.uns["method"]["seed"] == 0


def test_failing_methods_leave_every_other_result_and_a_failure_row(tmp_path):
    workdir = new_workdir(tmp_path)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["targets"]["ci"] = ["ci_cite"]
    cite = config["datasets"]["ci_cite"]
    cite["method_params"] = dict(cite["method_params"], pca={"n_comps": 0})  # PCA rejects 0 components
    cite["mima"]["train"]["lr"] = 1.0e12  # MIMA diverges ...
    cite["method_params"]["mima_unimodal"] = {"train": {"lr": 1.0e-3}}  # ... MIMA-Unimodal overrides it
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, "ci", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    base = workdir / "results" / "ci_cite"
    statuses = {m: ad.read_h5ad(base / "embeddings" / f"{m}.h5ad").uns for m in ["mima", *dataset_settings(config, "ci_cite")["methods"]]}
    assert statuses["pca"]["status"] == "failed" and "n_comps" in statuses["pca"]["reason"]
    assert statuses["mima"]["status"] == "failed" and "diverged" in statuses["mima"]["reason"]
    assert all(uns["status"] == "ok" for m, uns in statuses.items() if m not in ("pca", "mima"))
    assert md.read_h5mu(base / "mima" / "outputs.h5mu").uns["status"] == "failed"
    runtime = pd.read_csv(base / "tables" / "runtime.tsv", sep="\t")
    failed = set(runtime.loc[runtime["status"] == "failed", "method"])
    assert failed == {"pca", "mima"}
    assert runtime.loc[runtime["method"] == "pca", "reason"].str.contains("n_comps").all()
    translation = pd.read_csv(base / "tables" / "translation_mse.tsv", sep="\t")
    assert set(translation["status"]) == {"failed"} and translation["reason"].str.contains("diverged").all()
    scib = pd.read_csv(base / "tables" / "scib.tsv", sep="\t")
    assert set(scib.loc[scib["status"] == "failed", "method"]) == {"pca", "mima"}
    assert set(scib.loc[scib["status"] == "ok", "method"]) >= {"harmony", "scvi", "totalvi"}
    # the failures are the run's last lines, each with what to delete to redo it (issue 18 §1)
    tail = result.stderr.strip().splitlines()
    start = max(i for i, line in enumerate(tail) if "recorded as failed" in line)
    summary = tail[start:]
    assert any(line.startswith("  ci_cite: pca: ") and "n_comps" in line for line in summary), summary
    assert any(line.startswith("  ci_cite: mima: ") and "diverged" in line for line in summary), summary
    fixes = [line.split("delete ", 1)[1].rsplit(", then rerun", 1)[0].split() for line in summary if "to redo it" in line]
    assert len(fixes) == len([line for line in summary if line.startswith("  ci_cite: ")])
    # deleting what it names (the config unchanged, so no setting triggers a rerun) makes the next run
    # redo exactly that work
    for paths in fixes:
        for path in (p if p.is_absolute() else workdir / p for p in map(Path, paths)):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    again = snakemake(workdir, "ci", "-n", "--cores", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    scheduled = jobs_by_dataset(again.stdout + again.stderr)["ci_cite"]
    assert {"embed_pca", "train_mima", "train_mima_fold", "embed_mima"} <= scheduled
    assert not scheduled & {"embed_harmony", "embed_scvi", "embed_totalvi"}  # what succeeded is kept


def test_evaluation_tables_follow_the_contract(ci_run):
    for dataset in ("ci_cite", "ci_multiome", "ci_spatial"):
        tables = ci_run / "results" / dataset / "tables"
        scib = pd.read_csv(tables / "scib.tsv", sep="\t")
        assert {"silhouette_label", "leiden_nmi", "kbet", "pcr_comparison", "total"} <= set(scib["metric"])
        assert {"poe", "pca_rna", "scvi_rna"} <= set(scib["embedding"])
        totals = scib[scib.metric == "total"]["value"]
        assert totals.between(0, 1).all() and len(totals) == scib["embedding"].nunique()
        for scheme in ("loocv", "4cv"):
            table = pd.read_csv(tables / f"classification_{scheme}.tsv", sep="\t", dtype={"fold": str})
            assert {"input", "mima"} <= set(table["method"]) and set(table["scheme"]) == {scheme}
            means = table[(table["fold"] == "mean") & (table["class"] == "mean")]
            assert set(means["metric"]) == {"accuracy", "precision", "recall", "f1"}
            assert means["value"].between(0, 1).all()
        mse = pd.read_csv(tables / "translation_mse.tsv", sep="\t", dtype={"fold": str})
        assert {"translation_mean", "same_centroid_mean", "knn_baseline_mean"} <= set(mse["metric"])
        assert set(mse["fold"]) == {"0", "1", "2", "3", "all"}
        r2 = pd.read_csv(tables / "translation_r2.tsv", sep="\t")
        assert set(r2["method"]) == {"mima", "knn_baseline"} and {"pearson_r", "r2"} <= set(r2["metric"])
    enrichment = pd.read_csv(ci_run / "results" / "ci_cite" / "tables" / "enrichment.tsv", sep="\t")
    assert {("input", "rna"), ("mima", "denoised_rna")} <= set(zip(enrichment["method"], enrichment["embedding"]))
    assert not (ci_run / "results" / "ci_multiome" / "tables" / "enrichment.tsv").exists()  # no gene set configured
    summary = pd.read_csv(ci_run / "results" / "summary" / "ci" / "scib.tsv", sep="\t")
    assert {"ci_cite", "ci_multiome", "ci_spatial"} <= set(summary["dataset"])


def test_second_run_has_nothing_to_do(ci_run):
    result = snakemake(ci_run, "ci", "-n", "--cores", "2")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_one_datasets_parameter_reruns_only_its_jobs(ci_run, tmp_path):
    config = yaml.safe_load((ci_run / "config.yaml").read_text())
    config["datasets"]["ci_cite"]["mima"]["train"]["max_epochs"] = 4
    changed = tmp_path / "config.yaml"
    changed.write_text(yaml.safe_dump(config, sort_keys=False))  # modality order matters: keep it
    result = snakemake(ci_run, "ci", "-n", "--cores", "2", configfile=changed)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = jobs_by_dataset(result.stdout + result.stderr)
    # MIMA (also per fold) and MIMA-Unimodal (trained with the dataset's MIMA
    # settings) rerun, then what reads them; nothing of another dataset
    assert set(jobs) == {"ci_cite"}
    assert jobs["ci_cite"] == {"train_mima", "embed_mima", "mima_outputs", "embed_mima_unimodal", "runtime_table",
                               "train_mima_fold", "predict_mima_fold", "translation_tables", "scib", "classification",
                               "classification_tables", "enrichment",
                               # the figures drawn from them (not the QC panels of the unchanged input)
                               "umap", "figure_umap", "figure_scib", "figure_classification", "figure_translation",
                               "figure_enrichment"}


def test_invalid_config_stops_before_any_job_with_one_line(tmp_path):
    workdir = new_workdir(tmp_path)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["datasets"]["ci_cite"]["modalities"]["rna"]["preprocess"] = "lognorm"
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "ci", "--cores", "2")
    assert result.returncode != 0
    line = next(l for l in result.stderr.splitlines() if "Invalid configuration" in l)
    assert "datasets.ci_cite.modalities.rna.preprocess" in line and "log_normalize" in line and "atac_bins" in line
    assert not (workdir / "results").exists()


def test_real_starter_runs_through_the_user_dataset_rules(ci_run):
    if not SHARED_STARTER.is_dir():
        pytest.skip(f"{SHARED_STARTER} is absent: the real-data dataset ci_bmmc_cite is left out of the ci target")
    assert ci_config()["datasets"]["ci_bmmc_cite"]["source"] == "files"
    base = ci_run / "results" / "ci_bmmc_cite"
    prepared = md.read_h5mu(base / "prepared.h5mu")
    assert prepared.n_obs == 600 and set(prepared.obs["batch"]) == {"s1d1", "s1d2"}
    assert prepared.mod["rna"].n_vars == 1000 and prepared.mod["adt"].n_vars == 134  # each file under its own name
    assert prepared.obs["label"].nunique() > 20
    assert int(prepared.mod["rna"].var["hvf"].sum()) == 200
    embeddings = ad.read_h5ad(base / "embeddings" / "mima.h5ad")
    assert np.isfinite(embeddings.obsm["poe"]).all()
