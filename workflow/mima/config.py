"""Pipeline configuration: validation against the JSON schema with
one-line errors, and the per-dataset view of the settings.

Knows nothing of Snakemake: the rules pass the loaded ``config`` dict in.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import yaml

from .errors import InputError

#: What a downloaded file's name may be (the ``filename`` wildcard of workflow/rules/common.smk).
SAFE_FILE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"


def deep_merge(base: dict, override: dict | None) -> dict:
    """Copy of ``base`` with ``override`` merged in, nested dicts recursively."""
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _describe(error) -> tuple[str, str, str]:
    """(key path, problem, fix) of a jsonschema error, in plain words."""
    path = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    validator = error.validator
    if validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        key = f"{path}.{extra[0]}" if path != "<top level>" else extra[0]
        close = difflib.get_close_matches(extra[0], allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return key, "unknown key (misspelt?)", f"{hint}use one of {allowed}"
    if "propertyNames" in error.schema_path and validator != "enum":
        return path, f"the name {error.instance!r} is not allowed (names become file names and wildcards)", \
            f"use only letters, digits and _ (pattern {error.validator_value})"
    if validator == "enum":
        return path, f"{error.instance!r} is not allowed", f"use one of {error.validator_value}"
    if validator == "required":
        return path, error.message, "add the missing key"
    if validator in ("type", "minimum", "maximum", "exclusiveMinimum", "minItems", "pattern", "minLength"):
        return path, error.message, f"give a value that satisfies {validator}: {error.validator_value}"
    return path, error.message, "see workflow/schemas/config.schema.yaml"


def with_registered_methods(schema: dict) -> dict:
    """The config schema with the method names it allows taken from the
    method registry (:mod:`mima.methods.registry`): the schema file names
    no method, so a registered method is valid config with no other edit."""
    from .methods import registry

    allowed = {"enum": registry.names()}
    schema = copy.deepcopy(schema)
    schema["$defs"]["method_list"]["items"] = allowed
    schema["$defs"]["method_params"]["propertyNames"] = allowed
    return schema


def validate_config(config: dict, schema_path: str | Path, source: str = "config.yaml") -> None:
    """Validate ``config`` and the cross-references the schema cannot express.

    Raises
    ------
    InputError
        One line: the key, what is wrong and the allowed values.
    """
    import jsonschema

    schema = with_registered_methods(yaml.safe_load(Path(schema_path).read_text()))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), e.path))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        raise InputError(source, *_describe(error))
    datasets = config.get("datasets", {})
    for target, names in config.get("targets", {}).items():
        for name in names:
            if name not in datasets:
                raise InputError(source, f"targets.{target}", f"dataset {name!r} is not defined under datasets",
                                 f"use one of {sorted(datasets)} or add it")
    for name in datasets:
        _validate_dataset(name, dataset_settings(config, name), source)


def _validate_dataset(name: str, settings: dict, source: str) -> None:
    kind = settings["source"]
    needs = {"simulate": "simulate", "files": None, "download": "files", "geo": "url", "zenodo": "record"}[kind]
    if needs and needs not in settings:
        raise InputError(source, f"datasets.{name}.{needs}", f"required for source: {kind}", f"add datasets.{name}.{needs}")
    if kind == "files" and not (settings.get("files") or settings.get("h5mu")):
        raise InputError(source, f"datasets.{name}", "source: files needs files: {modality: path} or h5mu: path",
                         "name the user's data files")
    files, modalities = settings.get("files") or {}, settings["modalities"]
    if kind in ("files", "download", "zenodo") and files:
        for modality in modalities:
            if modality not in files:
                raise InputError(source, f"datasets.{name}.files", f"no file for modality {modality!r}",
                                 f"add datasets.{name}.files.{modality}, or remove {modality} from "
                                 f"datasets.{name}.modalities")
        for key in files:
            if key not in modalities:
                raise InputError(source, f"datasets.{name}.files.{key}", f"{key!r} is not a modality of the dataset",
                                 f"use one of {sorted(modalities)}, or add {key} under datasets.{name}.modalities")
    if kind == "geo":
        file_name = PurePosixPath(urlparse(settings["url"]).path).name
        if not re.fullmatch(SAFE_FILE_NAME, file_name):
            raise InputError(source, f"datasets.{name}.url", f"its file name {file_name!r} is not a plain file name "
                             "(it names the downloaded file)", f"give a URL whose last part matches {SAFE_FILE_NAME}")
    _validate_methods(name, settings, source)
    for modality in settings.get("mima", {}).get("modalities", {}):
        if modality not in settings["modalities"]:
            raise InputError(source, f"datasets.{name}.mima.modalities.{modality}", "not a modality of the dataset",
                             f"use one of {sorted(settings['modalities'])}")


def _validate_methods(name: str, settings: dict, source: str) -> None:
    """Each listed method must suit the dataset's modalities (its counts are
    checked when it runs)."""
    from .methods import registry

    modalities = list(settings["modalities"])
    for method in settings.get("methods", []):
        requires = registry.get(method).requires
        missing = [m for m in requires.modalities if m not in modalities]
        if missing or len(modalities) < requires.min_modalities:
            need = list(requires.modalities) or f"at least {requires.min_modalities} modalities"
            raise InputError(source, f"datasets.{name}.methods", f"{method} needs {need}; the dataset has {modalities}",
                             f"remove {method} from datasets.{name}.methods")


def dataset_settings(config: dict, dataset: str) -> dict:
    """Everything one dataset's jobs depend on, resolved.

    Global ``preprocess`` and ``mima`` settings are merged with the dataset's
    own overrides, so a rule's ``params`` change only when this dataset's
    effective settings change (and only its jobs rerun). The competitors are
    the dataset's own ``methods:``, else the global ``methods:``, else every
    registered method whose requirements its modalities meet.
    """
    from .methods.registry import default_methods

    settings = copy.deepcopy(config["datasets"][dataset])
    settings["name"] = dataset
    settings["preprocess"] = deep_merge(config.get("preprocess", {}), settings.get("preprocess"))
    settings["mima"] = deep_merge(config.get("mima", {}), settings.get("mima"))
    if "methods" not in settings:  # an explicit empty list means: no competitor
        settings["methods"] = config["methods"] if "methods" in config else default_methods(list(settings["modalities"]))
    settings["methods"] = list(settings["methods"])
    settings["method_params"] = deep_merge(config.get("method_params", {}), settings.get("method_params"))
    settings["evaluation"] = deep_merge(config.get("evaluation", {}), settings.get("evaluation"))
    settings["figures"] = deep_merge(config.get("figures", {}), settings.get("figures"))
    settings["mima"]["train"].setdefault("seed", config.get("seed", 0))
    settings["seed"] = settings.get("seed", config.get("seed", 0))
    return settings


def effective_config(config: dict) -> dict:
    """The configuration as a run uses it, for the run record.

    Parameters
    ----------
    config
        The loaded (merged) config files.

    Returns
    -------
    dict
        The global settings (the ``x-`` blocks left out: they are YAML
        anchors, already resolved into the datasets) and, under
        ``datasets``, every dataset's settings with the global defaults
        merged in (:func:`dataset_settings`); plain types, keys sorted.
    """
    import json

    settings = {key: value for key, value in config.items() if key != "datasets" and not key.startswith("x-")}
    settings["datasets"] = {name: dataset_settings(config, name) for name in config.get("datasets", {})}
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def config_digest(config: dict) -> str:
    """sha256 of :func:`effective_config` (the run record's rerun trigger)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(effective_config(config), sort_keys=True).encode()).hexdigest()
