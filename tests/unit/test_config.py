"""config.yaml validation: one line naming the key, the problem and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from mima.config import dataset_settings, validate_config
from mima.errors import InputError

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def invalid(change) -> str:
    config = copy.deepcopy(CONFIG)
    change(config)
    with pytest.raises(InputError) as error:
        validate_config(config, SCHEMA)
    message = str(error.value)
    assert "\n" not in message and message.startswith("config.yaml: ") and "fix:" in message
    return message


def test_the_shipped_config_is_valid():
    validate_config(CONFIG, SCHEMA)


def test_misspelt_key_names_it_and_the_allowed_keys():
    message = invalid(lambda c: c["mima"]["train"].update(max_epoch=3))
    assert "mima.train.max_epoch" in message and "max_epochs" in message


def test_value_outside_an_enum_lists_the_allowed_values():
    message = invalid(lambda c: c["datasets"]["sim_cite"]["modalities"]["rna"].update(preprocess="scran"))
    assert "datasets.sim_cite.modalities.rna.preprocess" in message and "log_normalize" in message


def test_unknown_method_is_rejected():
    message = invalid(lambda c: c["datasets"]["sim_cite"].update(methods=["pca", "seurat"]))
    assert "seurat" in message and "totalvi" in message


def test_method_that_does_not_suit_the_modalities_is_rejected():
    message = invalid(lambda c: c["datasets"]["sim_multiome"].update(methods=["pca", "totalvi"]))
    assert "datasets.sim_multiome.methods" in message and "totalvi needs ['rna', 'adt']" in message


def test_target_naming_an_undefined_dataset_is_rejected():
    message = invalid(lambda c: c["targets"]["demo"].append("my_data"))
    assert "targets.demo" in message and "my_data" in message


def test_dataset_overrides_merge_into_the_global_settings():
    settings = dataset_settings(CONFIG, "sim_cite")
    assert settings["mima"]["model"]["beta_poe"] == 0.1  # the dataset's CITE setting
    assert settings["mima"]["model"]["latent_dim"] == 100  # the global default
    assert settings["mima"]["modalities"]["rna"]["beta"] == 0.001
    assert "totalvi" in settings["methods"]
    assert "multivi" not in settings["methods"]
    spatial = dataset_settings(CONFIG, "sim_spatial")["methods"]  # no list of its own: the registry's default
    assert spatial == ["pca", "harmony", "scanorama", "scvi", "mofa", "mima_unimodal"]
