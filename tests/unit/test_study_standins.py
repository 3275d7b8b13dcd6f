"""Stand-ins of the study's datasets (mima.data.simulate.study / standins): shapes, the published file
layouts read by the pipeline's own readers, checksums, determinism, sparsity and the figures' HVFs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mima.cli import main
from mima.config import dataset_settings
from mima.data.assemble import assemble_raw
from mima.data.checksum_lock import read_lock_file
from mima.data.download import file_digests
from mima.data.simulate.standins import GEO_FILES, write_standins
from mima.data.simulate.study import FULL_SHAPES, planned_shapes
from mima.preprocess.atac import bin_peaks
from mima.preprocess.prepare import prepare_dataset

REPO = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TINY = {"scale": 0.007, "feature_scale": 0.02}  # ~600 / 500 / 300 cells, a few hundred genes


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirror")
    write_standins(out, seed=0, **TINY)
    return out


def _geo(mirror, dataset):
    return mirror / "geo" / GEO_FILES[dataset]


def _zenodo(mirror):
    return mirror / "zenodo" / "17369670"


def test_planned_shapes_are_the_published_ones_at_full_scale():
    assert planned_shapes("neurips_cite") == {
        "n_cells": 90_261, "batches": list(FULL_SHAPES["neurips_cite"]["batches"]),
        "features": {"rna": 13_953, "adt": 134}}
    multiome = planned_shapes("neurips_multiome")
    assert (multiome["n_cells"], multiome["features"], multiome["atac_bins"]) == (
        69_249, {"rna": 13_431, "atac": 116_490}, 40_110)
    assert len(multiome["batches"]) == 13 and "s3d10" in multiome["batches"]
    spatial = planned_shapes("pca_spatial")
    assert (spatial["n_cells"], spatial["features"]) == (42_475, {"rna": 18_950, "msi": 12_510, "morphology": 512})
    assert len(spatial["batches"]) == 16 and {"PWB931_cancer", "PWB941_normal", "PWB929_normal",
                                              "PWB929_cancer"} <= set(spatial["batches"])


def test_planned_shapes_follow_scale():
    shapes = planned_shapes("neurips_multiome", scale=0.1, feature_scale=0.5)
    assert shapes["n_cells"] == round(69_249 * 0.1) and shapes["features"] == {"rna": round(13_431 / 2), "atac": 58_245}
    assert shapes["atac_bins"] == 20_055
    assert planned_shapes("neurips_cite", scale=1e-6)["n_cells"] == 3 * 12  # at least 3 cells per donor
    assert planned_shapes("neurips_cite", feature_scale=0.01)["features"]["adt"] == 10


@pytest.mark.parametrize("dataset, other", [("neurips_cite", "adt"), ("neurips_multiome", "atac")])
def test_geo_standins_are_read_by_the_pipeline(mirror, dataset, other):
    shapes = planned_shapes(dataset, **TINY)
    raw = assemble_raw(dataset_settings(CONFIG, dataset), {"geo": str(_geo(mirror, dataset))})
    assert list(raw.mod) == ["rna", other] and raw.n_obs == shapes["n_cells"]
    for modality in ("rna", other):
        adata = raw.mod[modality]
        assert adata.n_vars == shapes["features"][modality]
        assert set(adata.var["feature_types"]) == {"GEX" if modality == "rna" else other.upper()}
        counts = adata.layers["counts"]
        assert counts.dtype == np.float32 and np.array_equal(counts.data, np.round(counts.data))
        assert counts.data.min() > 0 and np.array_equal(adata.X.indices, counts.indices)
    assert set(raw.obs["batch"]) == set(shapes["batches"]) and raw.obs["label"].notna().all()
    assert {"cell_type", "Samplename", "Site", "DonorNumber"} <= set(raw.mod["rna"].obs.columns)
    n_types = len(raw.mod["rna"].obs["cell_type"].cat.categories)
    assert n_types == (45 if dataset == "neurips_cite" else 22)


@pytest.mark.parametrize("dataset", ["neurips_cite", "neurips_multiome"])
def test_geo_standins_are_prepared_by_the_pipeline(mirror, dataset):
    settings = dataset_settings(CONFIG, dataset)
    prepared = prepare_dataset(assemble_raw(settings, {"geo": str(_geo(mirror, dataset))}), settings)
    if dataset == "neurips_multiome":
        assert prepared.mod["atac"].n_vars == planned_shapes(dataset, **TINY)["atac_bins"]
    assert prepared.mod["rna"].var["hvf"].sum() == min(1000, prepared.mod["rna"].n_vars)


def test_geo_x_is_the_published_normalisation(mirror):
    raw = assemble_raw(dataset_settings(CONFIG, "neurips_multiome"), {"geo": str(_geo(mirror, "neurips_multiome"))})
    rna, atac = raw.mod["rna"], raw.mod["atac"]
    counts = rna.layers["counts"]
    expected = np.log1p(counts.multiply(1e4 / counts.sum(axis=1)).tocsr().data)
    np.testing.assert_allclose(rna.X.data, expected, rtol=1e-5)
    assert set(np.unique(atac.X.data)) == {1.0}  # binarised ATAC counts


def test_atac_peaks_bin_into_the_planned_number_of_bins(mirror):
    raw = assemble_raw(dataset_settings(CONFIG, "neurips_multiome"), {"geo": str(_geo(mirror, "neurips_multiome"))})
    atac = raw.mod["atac"]
    binned, bins = bin_peaks(atac.layers["counts"], list(atac.var_names), CONFIG["preprocess"]["atac_bin_size"])
    assert len(bins) == binned.shape[1] == planned_shapes("neurips_multiome", **TINY)["atac_bins"]


def test_sparsity_is_in_the_stated_ranges(mirror):
    cite = assemble_raw(dataset_settings(CONFIG, "neurips_cite"), {"geo": str(_geo(mirror, "neurips_cite"))})
    multiome = assemble_raw(dataset_settings(CONFIG, "neurips_multiome"),
                            {"geo": str(_geo(mirror, "neurips_multiome"))})
    spatial = assemble_raw(dataset_settings(CONFIG, "pca_spatial"), {"zenodo": str(_zenodo(mirror))})

    def density(matrix):
        return matrix.nnz / np.prod(matrix.shape)

    for rna in (cite.mod["rna"].layers["counts"], multiome.mod["rna"].layers["counts"], spatial.mod["rna"].X):
        assert 0.05 <= density(rna) <= 0.10
    assert density(cite.mod["adt"].layers["counts"]) >= 0.9
    assert 0.03 <= density(multiome.mod["atac"].layers["counts"]) <= 0.05


def test_zenodo_standin_is_read_by_the_pipeline(mirror):
    settings = dataset_settings(CONFIG, "pca_spatial")
    shapes = planned_shapes("pca_spatial", **TINY)
    raw = assemble_raw(settings, {"zenodo": str(_zenodo(mirror))})
    assert list(raw.mod) == ["rna", "msi", "morphology"] and raw.n_obs == shapes["n_cells"]
    assert {m: raw.mod[m].n_vars for m in raw.mod} == shapes["features"]
    assert set(raw.obs["batch"]) == set(shapes["batches"]) >= set(settings["figures"]["samples"])
    assert set(settings["exclude_labels"]) <= set(raw.obs["label"])
    assert raw.obsm["spatial"].shape == (raw.n_obs, 2)
    assert np.array_equal(raw.mod["rna"].X.data, np.round(raw.mod["rna"].X.data))
    assert raw.mod["msi"].X.min() >= 0 and "702.544" in raw.mod["msi"].var_names and "NEFH" in raw.mod["rna"].var_names


def test_checksums_match_the_files(mirror):
    lock = read_lock_file(mirror / "geo" / "checksums.lock.tsv")
    assert (mirror / "geo" / "checksums.lock.tsv").read_text().startswith("filename\tsha256\n")
    assert lock == {name: file_digests(mirror / "geo" / name, ["sha256"])["sha256"] for name in GEO_FILES.values()}
    record = json.loads((_zenodo(mirror) / "record.json").read_text())
    assert record["id"] == 17369670
    assert [f["key"] for f in record["files"]] == ["morphology.h5ad", "msi.h5ad", "rna.h5ad"]
    for entry in record["files"]:
        path = _zenodo(mirror) / entry["key"]
        assert entry["size"] == path.stat().st_size
        assert entry["checksum"] == "md5:" + file_digests(path, ["md5"])["md5"]
        assert entry["links"]["self"] == f"https://zenodo.org/api/records/17369670/files/{entry['key']}/content"
    with gzip.open(_geo(mirror, "neurips_cite")) as handle:
        assert handle.read(8) == b"\x89HDF\r\n\x1a\n"


def test_same_seed_same_bytes_other_seed_other_bytes(mirror, tmp_path):
    write_standins(tmp_path / "same", ["neurips_cite", "pca_spatial"], seed=0, **TINY)
    write_standins(tmp_path / "other", ["neurips_cite", "pca_spatial"], seed=1, **TINY)
    for relative in (Path("geo") / GEO_FILES["neurips_cite"], Path("zenodo/17369670/rna.h5ad"),
                     Path("zenodo/17369670/msi.h5ad"), Path("zenodo/17369670/record.json")):
        assert (tmp_path / "same" / relative).read_bytes() == (mirror / relative).read_bytes()
        assert (tmp_path / "other" / relative).read_bytes() != (mirror / relative).read_bytes()


def test_figure_features_are_highly_variable_after_preprocessing(tmp_path):
    # Full feature counts and the study's HVF settings (top 2000 by variance, then 1000 by mean).
    write_standins(tmp_path, ["pca_spatial"], scale=0.02)
    settings = dataset_settings(CONFIG, "pca_spatial")
    prepared = prepare_dataset(assemble_raw(settings, {"zenodo": str(_zenodo(tmp_path))}), settings)
    for feature in settings["figures"]["features"]:
        assert prepared.mod[feature["modality"]].var.loc[feature["feature"], "hvf"]


def test_cli_writes_one_dataset(tmp_path, capsys):
    assert main(["simulate-study", "--out", str(tmp_path), "--dataset", "neurips_cite", "--scale", "0.001",
                 "--feature-scale", "0.01", "--seed", "3"]) == 0
    assert "neurips_cite: wrote" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "geo").iterdir()} == {"checksums.lock.tsv", GEO_FILES["neurips_cite"]}
    assert not (tmp_path / "zenodo").exists()
    assert list(read_lock_file(tmp_path / "geo" / "checksums.lock.tsv")) == [GEO_FILES["neurips_cite"]]
