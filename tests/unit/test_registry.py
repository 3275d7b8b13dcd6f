"""The method registry is the single source of method names: the schema's
allowed names, each dataset's default method list, the rules' envs and
the README's methods table derive from it."""

from __future__ import annotations

import copy
import re
import sys
import types
from pathlib import Path

import pytest
import yaml

from mima.config import dataset_settings, validate_config
from mima.errors import InputError
from mima.methods import registry
from mima.methods.base import Requirements

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TABLE = re.compile(r"<!-- methods-table:start -->\n(.*?)\n<!-- methods-table:end -->", re.S)


@pytest.fixture
def with_toy_method(monkeypatch):
    """A registry with one more method, ``toy``, whose adapter module
    (``mima.methods.toy``, made in memory) needs an ``adt`` modality."""
    adapter = types.ModuleType("mima.methods.toy")
    adapter.REQUIRES = Requirements(modalities=("adt",))
    monkeypatch.setitem(sys.modules, "mima.methods.toy", adapter)
    toy = registry.Method("toy", "Toy", env="toy", embeddings="`toy`", citation="none")
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, toy))


def test_every_registered_method_has_an_adapter_and_an_env_file():
    for method in registry.REGISTRY:
        adapter = method.adapter()
        assert callable(adapter.run) and callable(adapter.version) and isinstance(adapter.REQUIRES, Requirements)
        assert (REPO / "envs" / f"{method.env}.yaml").is_file(), method.name
    assert len(set(registry.names())) == len(registry.REGISTRY)


def test_the_schema_names_no_method_and_validation_takes_them_from_the_registry(with_toy_method):
    assert not re.search(r"\b(totalvi|harmony|scanorama)\b", SCHEMA.read_text())
    config = copy.deepcopy(CONFIG)
    config["datasets"]["sim_cite"]["methods"] = ["pca", "toy"]
    config["method_params"] = {"toy": {"k": 1}}
    validate_config(config, SCHEMA)  # a registered method is valid with no schema edit
    config["datasets"]["sim_cite"]["methods"] = ["pca", "seurat"]
    with pytest.raises(InputError, match=r"'seurat' is not allowed.*'toy'"):
        validate_config(config, SCHEMA)
    config["datasets"]["sim_cite"]["methods"] = ["pca"]
    config["method_params"] = {"seurat": {}}
    with pytest.raises(InputError, match=r"method_params.*'seurat' is not allowed.*'mofa'"):
        validate_config(config, SCHEMA)


def test_default_method_lists_follow_the_declared_requirements(with_toy_method):
    assert registry.default_methods(["rna", "adt"]) == [
        "pca", "harmony", "scanorama", "scvi", "totalvi", "mofa", "mima_unimodal", "toy"]
    assert registry.default_methods(["rna", "atac"]) == [
        "pca", "harmony", "scanorama", "scvi", "multivi", "mofa", "mima_unimodal"]
    assert "toy" in dataset_settings(CONFIG, "sim_cite")["methods"]
    assert "toy" not in dataset_settings(CONFIG, "sim_spatial")["methods"]
    config = copy.deepcopy(CONFIG)
    config["datasets"]["sim_cite"]["methods"] = []  # an explicit empty list: no competitor
    assert dataset_settings(config, "sim_cite")["methods"] == []


def test_config_repeats_no_method_list():
    assert "methods" not in CONFIG
    assert not any("methods" in dataset for dataset in CONFIG["datasets"].values())


def test_readme_methods_table_is_the_registry_table():
    readme = (REPO / "README.md").read_text()
    match = TABLE.search(readme)
    assert match, "README.md lacks the <!-- methods-table:start/end --> markers"
    assert match.group(1).strip() == registry.methods_table(), (
        "README.md's methods table differs from the registry; paste the output of "
        "`python -c 'from mima.methods.registry import methods_table; print(methods_table())'`")


def test_unknown_method_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered: .*'pca'"):
        registry.get("seurat")
