"""The catalogue of bad inputs (issue #9): one test per case.

Every case asserts (a) that the error is one line, (b) that it names the
file (or the config key) and the field and says how to fix it, and (c) that
nothing partial is left: at pipeline level (Snakemake on a tiny config in a
temporary workdir) nothing but logs and the complete outputs of earlier,
successful jobs under ``results/``; at library level (the functions the
rules' thin scripts call, in the same order) no file under the output's
name and no temporary file beside it.

The config errors, the missing file, the non-HDF5 file and two data errors
(one found while reading, one while preprocessing) go through Snakemake;
the rest call the library directly, which is what the rules run.

Some inputs are not errors: unlabelled data, a single batch, a class with
fewer than three cells, all-zero features or cells. For those the test
asserts the notice and that every analysis that still applies runs.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mima.config import dataset_settings, validate_config
from mima.data.assemble import assemble_raw
from mima.data.atomic_write import write_h5mu_atomic
from mima.data.checksum_lock import read_lock_file
from mima.errors import InputError
from mima.preprocess.prepare import prepare_dataset
from pipeline_helpers import REPO
from reliability_helpers import (
    adt_values, assert_nothing_partial, assert_one_line_error, cells, error_line, files_under, pipeline_config,
    rna_counts, run_pipeline, user_dataset, user_obs, write_pair,
)

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
RUN_INFO = {"run_info/versions.tsv", "run_info/config.yaml"}  # the run record may be written before the failure


# --------------------------------------------------------------------------
# the library path of the rules raw_dataset and prepare
# --------------------------------------------------------------------------


def settings_of(inputs: dict, **overrides) -> dict:
    """The resolved settings of the tiny user dataset ``mine`` (config validated)."""
    config = pipeline_config({"mine": user_dataset(inputs, **overrides)})
    validate_config(config, SCHEMA)
    return dataset_settings(config, "mine")


def build_prepared(results: Path, inputs: dict, **overrides) -> md.MuData:
    """What the rules raw_dataset and prepare do (scripts raw_dataset.py,
    prepare.py): read the user's files, write raw.h5mu, read it back,
    preprocess, write prepared.h5mu -- each write atomic."""
    settings = settings_of(inputs, **overrides)
    raw_path, prepared_path = results / "mine" / "raw.h5mu", results / "mine" / "prepared.h5mu"
    write_h5mu_atomic(assemble_raw(settings, inputs), raw_path)
    prepare_settings = {"name": "mine", "modalities": settings["modalities"], "preprocess": settings["preprocess"],
                        "modality_order": list(settings["modalities"])}
    prepared = prepare_dataset(md.read_h5mu(raw_path), prepare_settings, source=str(raw_path))
    write_h5mu_atomic(prepared, prepared_path)
    return prepared


def expect_bad_input(tmp_path: Path, inputs: dict, *words: str, at: str = "raw", **overrides) -> str:
    """Run :func:`build_prepared`, expect one InputError line holding
    ``words``; check that the failing step left nothing (``at``: ``raw`` =
    failed while reading, ``prepare`` = while preprocessing, so raw.h5mu is
    complete and readable)."""
    results = tmp_path / "results"
    with pytest.raises(InputError) as caught:
        build_prepared(results, inputs, **overrides)
    message = assert_one_line_error(str(caught.value), *words)
    left = files_under(results)
    expected = {"mine/raw.h5mu"} if at == "prepare" else set()
    assert left == expected, left
    if at == "prepare":
        assert md.read_h5mu(results / "mine" / "raw.h5mu").n_obs > 0
    return message


def anndata(X, obs=None, var_prefix="prot", counts=False) -> ad.AnnData:
    X = X if sp.issparse(X) else np.asarray(X, dtype=np.float32)
    obs = user_obs(X.shape[0]) if obs is None else obs
    adata = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"{var_prefix}{j}" for j in range(X.shape[1])]))
    if counts:
        adata.layers["counts"] = X.copy()
    return adata


def rna_with(counts) -> ad.AnnData:
    return anndata(counts, var_prefix="gene", counts=True)


# --------------------------------------------------------------------------
# configuration errors (through Snakemake: the run stops before any job)
# --------------------------------------------------------------------------


CONFIG_ERRORS = {
    # case: (dataset overrides, words the one line must hold)
    "config_key_misspelt": (
        {"lable_key": "cell_type"}, ["datasets.mine.lable_key", "unknown key (misspelt?)", "did you mean 'label_key'?"]),
    "unknown_method": (
        {"methods": ["pca", "scanvi"]}, ["datasets.mine.methods", "'scanvi' is not allowed", "harmony", "totalvi"]),
    "method_not_applicable_to_modalities": (
        {"methods": ["pca", "multivi"]}, ["datasets.mine.methods", "multivi needs ['rna', 'atac']",
                                          "remove multivi from datasets.mine.methods"]),
    "modality_without_a_file": (
        {"files": {"rna": "rna.h5ad"}}, ["datasets.mine.files", "no file for modality 'adt'",
                                         "add datasets.mine.files.adt, or remove adt from datasets.mine.modalities"]),
    "file_of_no_modality": (
        {"files": {"rna": "rna.h5ad", "adt": "adt.h5ad", "protein": "adt.h5ad"}},
        ["datasets.mine.files.protein", "'protein' is not a modality of the dataset", "['adt', 'rna']"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_error_stops_snakemake_before_any_job(case, tmp_path):
    overrides, words = CONFIG_ERRORS[case]
    dataset = user_dataset({"rna": "rna.h5ad", "adt": "adt.h5ad"}, **overrides)
    result = run_pipeline(tmp_path, pipeline_config({"mine": dataset}))
    assert result.returncode != 0
    line = error_line(result.stderr, "Invalid configuration:")
    assert_one_line_error(line, "config.yaml", *words)
    assert not (tmp_path / "results").exists()


def test_target_naming_an_undefined_dataset():
    config = pipeline_config({"mine": user_dataset({"rna": "rna.h5ad", "adt": "adt.h5ad"})})
    config["targets"]["demo"] = ["mine", "yours"]
    with pytest.raises(InputError) as caught:
        validate_config(config, SCHEMA)
    assert_one_line_error(str(caught.value), "targets.demo", "'yours'", "mine")


# --------------------------------------------------------------------------
# missing and damaged files
# --------------------------------------------------------------------------


def test_dataset_file_missing_stops_snakemake_with_one_line(tmp_path):
    files = write_pair(tmp_path / "data")
    files["adt"] = str(tmp_path / "data" / "adt_typo.h5ad")
    result = run_pipeline(tmp_path / "work", pipeline_config({"mine": user_dataset(files)}))
    assert result.returncode != 0
    line = error_line(result.stderr, "Invalid input:")
    assert_one_line_error(line, "datasets.mine.files.adt", "adt_typo.h5ad", "does not exist", "correct the path")
    assert not (tmp_path / "work" / "results").exists()


def test_dataset_file_missing_library(tmp_path):
    files = write_pair(tmp_path / "data")
    files["rna"] = str(tmp_path / "data" / "nowhere.h5ad")
    expect_bad_input(tmp_path, files, "nowhere.h5ad", "does not exist", "existing h5ad")


def test_truncated_download_stops_snakemake_with_one_line(tmp_path):
    """An h5ad cut off half-way (an interrupted download): still an HDF5
    signature, but unreadable."""
    files = write_pair(tmp_path / "data")
    adt = Path(files["adt"])
    adt.write_bytes(adt.read_bytes()[: adt.stat().st_size // 2])
    result = run_pipeline(tmp_path / "work", pipeline_config({"mine": user_dataset(files)}))
    assert result.returncode != 0
    line = error_line(result.stderr, "InputError:")
    assert_one_line_error(line, str(adt), "file", "download or write the file again")
    log = (tmp_path / "work" / "results" / "mine" / "logs" / "raw_dataset.log").read_text().splitlines()
    assert log[-1] == line.strip()  # the job's log ends with the same line (its traceback above it)
    assert_nothing_partial(tmp_path / "work", RUN_INFO)


def test_a_download_without_checksum_is_recorded_then_verified(tmp_path):
    """A ``source: download`` file with no md5 / sha256 (issue 18 §6): its
    first download records its sha256 in ``downloads/<dataset>/checksums.lock.tsv``
    (keyed by URL); a later download of changed content stops with one line
    naming the lock, and keeps nothing."""
    files = write_pair(tmp_path / "data")
    remote = {m: {"url": Path(path).resolve().as_uri()} for m, path in files.items()}
    config = pipeline_config({"mine": user_dataset({}, source="download", files=remote)})
    work = tmp_path / "work"
    first = run_pipeline(work, config, "results/mine/raw.h5mu")
    assert first.returncode == 0, first.stderr[-3000:]
    lock = work / "downloads" / "mine" / "checksums.lock.tsv"
    entries = read_lock_file(lock)
    assert set(entries) == {spec["url"] for spec in remote.values()}
    log = (work / "results" / "mine" / "logs" / "download_adt.log").read_text()
    assert "recorded the sha256" in log and "downloads/mine/checksums.lock.tsv" in log
    adt = Path(files["adt"])
    adt.write_bytes(adt.read_bytes() + b"changed on the server")
    (work / "downloads" / "mine" / "adt.h5ad").unlink()
    again = run_pipeline(work, config, "downloads/mine/adt.h5ad")
    assert again.returncode != 0
    line = error_line(again.stderr, "checksum mismatch")  # a DownloadError, an InputError: one line
    assert_one_line_error(line, "InputError:", remote["adt"]["url"], "checksums.lock.tsv")
    assert not (work / "downloads" / "mine" / "adt.h5ad").exists()


@pytest.mark.parametrize("damage", ["html_error_page", "truncated_half", "empty"])
def test_h5ad_that_is_not_hdf5(damage, tmp_path):
    files = write_pair(tmp_path / "data")
    adt = Path(files["adt"])
    content = {"html_error_page": b"<html><body>429 Too Many Requests</body></html>",
               "truncated_half": adt.read_bytes()[: adt.stat().st_size // 2], "empty": b""}[damage]
    adt.write_bytes(content)
    expect_bad_input(tmp_path, files, str(adt), "file", "download or write the file again")


# --------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------


def test_modalities_with_different_cells(tmp_path):
    adt = anndata(adt_values(), obs=user_obs().set_axis([f"other{i}" for i in range(60)]))
    files = write_pair(tmp_path / "data", adt=adt)
    expect_bad_input(tmp_path, files, files["adt"], "modality 'adt' obs_names", "cells differ",
                     "subset every modality")


def test_modalities_with_different_cell_order(tmp_path):
    adt = anndata(adt_values())[::-1].copy()
    files = write_pair(tmp_path / "data", adt=adt)
    expect_bad_input(tmp_path, files, files["adt"], "modality 'adt' obs_names", "different order", "reindex")


def test_duplicate_cell_names_stop_snakemake_with_one_line(tmp_path):
    obs = user_obs().set_axis(cells()[:-1] + [cells()[0]])
    files = write_pair(tmp_path / "data", rna=anndata(rna_counts(), obs=obs, var_prefix="gene", counts=True),
                       adt=anndata(adt_values(), obs=obs))
    result = run_pipeline(tmp_path / "work", pipeline_config({"mine": user_dataset(files)}))
    assert result.returncode != 0
    line = error_line(result.stderr, "InputError:")
    assert_one_line_error(line, files["rna"], "obs_names", "duplicate cell names", "'cell000'", "make cell names unique")
    assert_nothing_partial(tmp_path / "work", RUN_INFO)


def test_duplicate_cell_names(tmp_path):
    obs = user_obs().set_axis(cells()[:-1] + [cells()[0]])
    files = write_pair(tmp_path / "data", rna=anndata(rna_counts(), obs=obs, var_prefix="gene", counts=True),
                       adt=anndata(adt_values(), obs=obs))
    expect_bad_input(tmp_path, files, files["rna"], "duplicate cell names", "make cell names unique")


def test_sample_with_one_cell(tmp_path):
    obs = user_obs()
    obs.loc[cells()[-1], "sample"] = "lonely"
    files = write_pair(tmp_path / "data", rna=anndata(rna_counts(), obs=obs, var_prefix="gene", counts=True),
                       adt=anndata(adt_values(), obs=obs))
    expect_bad_input(tmp_path, files, "obs column 'batch'", "'lonely'", "only one cell",
                     "drop those cells or merge", at="prepare")


# --------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------


def _with(values: np.ndarray, row: int, col: int, value: float) -> np.ndarray:
    values = values.copy()
    values[row, col] = value
    return values


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf_in_counts(value, tmp_path):
    files = write_pair(tmp_path / "data", rna=rna_with(_with(rna_counts(), 3, 4, value)))
    expect_bad_input(tmp_path, files, files["rna"], "mod['rna'].layers['counts']", "non-finite",
                     "store the raw", at="prepare")


@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_nan_or_inf_in_a_modality_used_as_provided(value, tmp_path):
    files = write_pair(tmp_path / "data", adt=anndata(_with(adt_values(), 7, 2, value)))
    expect_bad_input(tmp_path, files, files["adt"], "modality 'adt' X", "1 NaN or infinite values",
                     "replace them", at="prepare")


def test_negative_values_where_counts_are_expected(tmp_path):
    files = write_pair(tmp_path / "data", rna=rna_with(_with(rna_counts(), 0, 0, -3.0)))
    expect_bad_input(tmp_path, files, files["rna"], "mod['rna'].layers['counts']", "negative value (-3)",
                     "store the raw (un-normalised, integer) counts", at="prepare")


def test_negative_values_under_log1p(tmp_path):
    files = write_pair(tmp_path / "data", adt=anndata(_with(adt_values(), 5, 1, -2.5)))
    modalities = {"rna": {"preprocess": "log_normalize", "hvf": True}, "adt": {"preprocess": "log1p"}}
    expect_bad_input(tmp_path, files, files["adt"], "mod['adt'].X", "negative values", "as_provided",
                     at="prepare", modalities=modalities)


def test_non_integer_counts_stop_snakemake_with_one_line(tmp_path):
    """Normalised values where counts are expected, found by the prepare
    job: raw.h5mu (complete) stays, no prepared.h5mu."""
    files = write_pair(tmp_path / "data", rna=rna_with(np.log1p(rna_counts())))
    result = run_pipeline(tmp_path / "work", pipeline_config({"mine": user_dataset(files)}))
    assert result.returncode != 0
    line = error_line(result.stderr, "InputError:")
    assert_one_line_error(line, files["rna"], "mod['rna'].layers['counts']", "non-integer value",
                          "store the raw (un-normalised, integer) counts")
    assert_nothing_partial(tmp_path / "work", RUN_INFO | {"mine/raw.h5mu"})
    assert md.read_h5mu(tmp_path / "work" / "results" / "mine" / "raw.h5mu").n_obs == 60


def test_non_integer_counts(tmp_path):
    files = write_pair(tmp_path / "data", rna=rna_with(rna_counts() * 0.37))
    message = expect_bad_input(tmp_path, files, files["rna"], "non-integer value", "integer) counts",
                               "already normalised?", "as_provided", "log1p", at="prepare")
    assert "np.float" not in message  # the value as a number, not numpy's repr (issue 18 §7)
    assert re.search(r"non-integer value \(\d+\.\d+\)", message), message


def test_atac_var_names_that_are_not_coordinates(tmp_path):
    counts = rna_counts(genes=30, seed=5)
    atac = anndata(sp.csr_matrix(counts), var_prefix="peak", counts=True)
    files = write_pair(tmp_path / "data", adt=atac)
    modalities = {"rna": {"preprocess": "log_normalize", "hvf": True}, "atac": {"preprocess": "atac_bins"}}
    files = {"rna": files["rna"], "atac": files["adt"]}
    expect_bad_input(tmp_path, files, files["atac"], "peak names", "'peak0'", "chrN-start-end", at="prepare",
                     modalities=modalities)


# --------------------------------------------------------------------------
# fields
# --------------------------------------------------------------------------


def test_batch_column_missing(tmp_path):
    files = write_pair(tmp_path / "data")
    expect_bad_input(tmp_path, files, "obs column 'donor'", "is missing", "batch_key", batch_key="donor")


def test_configured_label_column_missing(tmp_path):
    files = write_pair(tmp_path / "data")
    expect_bad_input(tmp_path, files, "obs column 'celltype'", "is missing", "leave label_key unset",
                     label_key="celltype")


def test_spatial_key_missing(tmp_path):
    files = write_pair(tmp_path / "data")
    expect_bad_input(tmp_path, files, "obsm 'spatial'", "is missing", "spatial_key", spatial_key="spatial")


def test_modality_named_in_config_absent_from_the_h5mu(tmp_path):
    rna, adt = rna_with(rna_counts()), anndata(adt_values())
    path = tmp_path / "data" / "pair.h5mu"
    path.parent.mkdir()
    md.MuData({"rna": rna, "protein": adt}).write_h5mu(path)
    expect_bad_input(tmp_path, {"h5mu": str(path)}, str(path), "modality 'adt'", "is not in the data",
                     "(present: rna, protein)", "name one of the present modalities", files={}, h5mu=str(path))


@pytest.mark.parametrize("empty", ["zero_features", "zero_cells"])
def test_an_empty_modality(empty, tmp_path):
    if empty == "zero_features":
        adt = anndata(np.zeros((60, 0), dtype=np.float32))
        words = ["modality 'adt'", "zero features", "leave the modality out"]
    else:
        adt = anndata(np.zeros((0, 8), dtype=np.float32), obs=user_obs().iloc[:0])
        words = ["modality 'adt' obs_names", "cells differ", "60 only in 'rna'"]
    files = write_pair(tmp_path / "data", adt=adt)
    expect_bad_input(tmp_path, files, files["adt"], *words, at="prepare" if empty == "zero_features" else "raw")


# --------------------------------------------------------------------------
# inputs that are not errors: a notice, and everything that applies still runs
# --------------------------------------------------------------------------


def test_all_zero_features_and_cells_are_kept_with_a_notice(tmp_path, caplog):
    counts = rna_counts()
    counts[:, [2, 9]] = 0  # two genes no cell expresses
    counts[[4, 11, 30], :] = 0  # three cells without a count
    files = write_pair(tmp_path / "data", rna=rna_with(sp.csr_matrix(counts)))
    with caplog.at_level(logging.WARNING, logger="mima.preprocess.prepare"):
        prepared = build_prepared(tmp_path / "results", files)
    notices = [r.getMessage() for r in caplog.records if r.getMessage().startswith("notice:")]
    assert len(notices) == 2, notices
    for notice, words in zip(notices, (["2 of 40 features", "'gene2'"], ["3 of 60 cells", "'cell004'"])):
        assert "\n" not in notice and "kept" in notice and "drop them" in notice, notice
        assert all(word in notice for word in [files["rna"], "mod['rna']", *words]), notice
    rna = prepared.mod["rna"]
    assert rna.shape == (60, 40) and np.isfinite(rna.X.toarray()).all()
    assert (rna.X[[4, 11, 30]].toarray() == 0).all()  # normalising an empty cell gives zeros, not NaN
    from mima.methods import run_method

    embedding = run_method("pca", prepared, ["rna", "adt"], {"n_comps": 5}, seed=0)
    assert embedding.uns["status"] == "ok" and all(np.isfinite(v).all() for v in embedding.obsm.values())


def _scib_rows(obs: pd.DataFrame, caplog):
    from mima.evaluate.scib import method_scib_rows

    rng = np.random.default_rng(0)
    n = len(obs)
    codes = pd.Categorical(obs.get("label", pd.Series("x", index=obs.index))).codes
    embedding = rng.normal(size=(n, 8)) + codes[:, None]
    embeddings = ad.AnnData(obs=pd.DataFrame(index=obs.index), obsm={"emb": embedding},
                            uns={"method": {"name": "toy"}, "status": "ok"})
    pca = ad.AnnData(obs=pd.DataFrame(index=obs.index), obsm={"pca_rna": rng.normal(size=(n, 8))})
    with caplog.at_level(logging.INFO):
        rows = method_scib_rows("toy", embeddings, obs, ["rna"], pca, {"n_neighbors": 10, "leiden": False}, seed=0)
    values = rows.set_index("metric")["value"]
    return values, [r.getMessage() for r in caplog.records]


BIO = ["isolated_labels", "kmeans_nmi", "kmeans_ari", "silhouette_label", "clisi"]
LABEL_FREE_BATCH = ["ilisi", "pcr_comparison"]


def test_unlabelled_data_skip_labelled_metrics_with_a_notice(caplog):
    """Label column missing (no label_key): scIB's label-based metrics are
    skipped with a notice, the label-free batch metrics still run."""
    obs = pd.DataFrame({"batch": pd.Categorical(["s1", "s2"] * 45)}, index=cells(90))
    values, messages = _scib_rows(obs, caplog)
    assert any("no labels" in m and "bio-conservation metrics are NaN" in m for m in messages), messages
    assert values[BIO].isna().all(), values
    assert np.isfinite(values[LABEL_FREE_BATCH]).all(), values


def test_unlabelled_dataset_keeps_every_job_that_needs_no_labels(tmp_path):
    """The DAG (dry run) of a dataset without label_key: no classification
    (it needs labels), but scIB, translation and every method."""
    files = write_pair(tmp_path / "data")
    unlabelled = user_dataset(files)
    unlabelled.pop("label_key")
    labelled = user_dataset(files)
    result = run_pipeline(tmp_path / "work", pipeline_config({"unlabelled": unlabelled, "labelled": labelled}), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = jobs_of(result.stdout)
    assert {"scib", "embed_pca", "train_mima", "translation_tables", "runtime_table"} <= jobs["unlabelled"]
    assert not {"classification", "classification_tables"} & jobs["unlabelled"]
    assert {"classification", "classification_tables"} <= jobs["labelled"]


def jobs_of(dry_run: str) -> dict[str, set[str]]:
    """{dataset: {rule, ...}} of the jobs in a dry run's output."""
    jobs: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=\[|rule |localrule )", dry_run):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        dataset = re.search(r"wildcards: .*dataset=(\w+)", block)
        if rule and dataset:
            jobs.setdefault(dataset.group(1), set()).add(rule.group(1))
    return jobs


def test_single_batch_skips_batch_metrics_with_a_notice(caplog):
    obs = pd.DataFrame({"batch": pd.Categorical(["only"] * 90), "label": pd.Categorical(["A", "B", "C"] * 30)},
                       index=cells(90))
    values, messages = _scib_rows(obs, caplog)
    assert any("one batch" in m and "batch-correction metrics are NaN" in m for m in messages), messages
    assert values[["silhouette_batch", "ilisi", "kbet", "graph_connectivity", "pcr_comparison"]].isna().all()
    assert np.isfinite(values[BIO]).all(), values


def test_single_batch_classification_skips_loocv_with_a_notice(caplog):
    from mima.evaluate.classification_tables import classify_input

    rng = np.random.default_rng(0)
    labels = np.array(["A", "B"] * 40)
    X = rng.normal(size=(80, 5)) + (labels == "A")[:, None] * 3
    with caplog.at_level(logging.INFO):
        table, _ = classify_input("toy", "input", "rna", X, labels, np.array(["only"] * 80), np.arange(80) % 4,
                                  n_estimators=2, rf_n_estimators=5)
    assert any("one sample only, LOOCV skipped" in r.getMessage() for r in caplog.records)
    assert set(table["scheme"]) == {"4cv"}
    means = table[(table["fold"] == "mean") & (table["class"] == "mean")]
    assert means["value"].between(0, 1).all() and len(means) == 4


def test_class_with_fewer_than_three_cells_is_not_scored_with_a_notice(caplog):
    from mima.evaluate.classification import evaluate

    rng = np.random.default_rng(0)
    labels = np.array(["A", "B"] * 39 + ["rare", "rare"])
    X = rng.normal(size=(80, 5)) + (labels == "A")[:, None] * 3
    batch = np.array(["s1"] * 40 + ["s2"] * 40)  # each sample holds one of the two 'rare' cells
    with caplog.at_level(logging.INFO, logger="mima.evaluate.classification"):
        per_class, summary, predictions = evaluate(X, labels, batch, "loocv", n_estimators=2, rf_n_estimators=5)
    notices = [r.getMessage() for r in caplog.records if "is not scored" in r.getMessage()]
    assert len(notices) == 1 and "class 'rare' is not scored in 2 of 2 folds" in notices[0], notices
    assert "fewer than 3" in notices[0] and "\n" not in notices[0]
    assert per_class.loc[per_class["class"] == "rare", "value"].isna().all()
    assert per_class.loc[per_class["class"] != "rare", "value"].notna().all()
    assert summary["value"].between(0, 1).all() and len(predictions) == 80
