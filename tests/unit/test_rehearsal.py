"""The rehearsal's datasets: the study's, with only the rehearsal settings changed."""

from __future__ import annotations

import copy

import pytest
import yaml

from mima.config import dataset_settings, validate_config
from mima.rehearsal import PREFIX, STUDY_DATASETS, with_rehearsal
from pipeline_helpers import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def _differences(study: dict, twin: dict, path: str = "") -> set[str]:
    """Dotted keys whose values differ between two settings trees."""
    keys = set(study) | set(twin)
    found = set()
    for key in keys:
        a, b = study.get(key), twin.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found |= _differences(a, b, f"{path}{key}.")
        elif a != b:
            found.add(f"{path}{key}")
    return found


def test_every_study_dataset_gets_a_twin_and_a_target(config):
    expanded = with_rehearsal(config, "/mirror")
    twins = [f"{PREFIX}{name}" for name in config["targets"]["paper"]]
    assert set(config["targets"]["paper"]) == set(STUDY_DATASETS)
    assert expanded["targets"]["rehearsal"] == twins
    for twin in twins:
        assert expanded["targets"][twin] == [twin]
    validate_config(expanded, SCHEMA)  # the twins are valid datasets
    assert "rehearsal" not in config["targets"]  # the input is left alone


def test_only_the_rehearsal_settings_differ_from_the_study(config):
    expanded = with_rehearsal(config, "/mirror")
    for name in config["targets"]["paper"]:
        study = dataset_settings(expanded, name)
        twin = dataset_settings(expanded, f"{PREFIX}{name}")
        changed = _differences(study, twin)
        bookkeeping = {"name", "description", "standin", "data_mirror"} | ({"lock"} if study["source"] == "geo" else set())
        shortened = {"mima.train.max_steps", "evaluation.classification.n_estimators",
                     "evaluation.classification.rf_n_estimators"}
        # parameters of methods the dataset does not run are inert
        shortened |= {f"method_params.{m}" for m in config["rehearsal"]["settings"]["method_params"]}
        assert changed == bookkeeping | shortened, name
        # everything the study's science depends on is the study's
        for key in ("preprocess", "modalities", "methods", "figures", "batch_key", "label_key"):
            assert twin.get(key) == study.get(key)
        assert twin["mima"]["model"] == study["mima"]["model"]
        assert twin["evaluation"]["scib"] == study["evaluation"]["scib"]
        assert twin["standin"] == {"of": name, "scale": 1.0, "feature_scale": 1.0}


def test_the_geo_twins_verify_against_the_mirror_lock(config):
    expanded = with_rehearsal(config, "/mirror")
    assert expanded["datasets"][f"{PREFIX}neurips_cite"]["lock"] == "/mirror/geo/checksums.lock.tsv"
    assert expanded["datasets"]["neurips_cite"].get("lock") == config["datasets"]["neurips_cite"].get("lock")


def test_a_scaled_rehearsal_and_no_rehearsal(config):
    scaled = copy.deepcopy(config)
    scaled["rehearsal"]["scale"] = 0.01
    expanded = with_rehearsal(scaled, "/mirror")
    assert expanded["datasets"][f"{PREFIX}pca_spatial"]["standin"]["scale"] == 0.01
    del config["rehearsal"]
    assert with_rehearsal(config, "/mirror") == config
