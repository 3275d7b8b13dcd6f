# Config validation and helpers shared by every rule file.

import sys
from pathlib import Path

from mima.config import dataset_settings, validate_config
from mima.errors import InputError

REPO = Path(workflow.basedir)

try:
    validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
except InputError as error:
    sys.exit(f"Invalid configuration: {error}")

RESULTS = config["results"]
DOWNLOADS = config.get("downloads", "downloads")
DATASETS = {name: dataset_settings(config, name) for name in config["datasets"]}
LOGS = f"{RESULTS}/{{dataset}}/logs"
BENCHMARKS = f"{RESULTS}/{{dataset}}/benchmarks"


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    modality="[A-Za-z0-9_]+",


def data_mirror():
    """The mirror folder (relative paths are relative to the repository)."""
    mirror = config.get("data_mirror")
    if not mirror:
        return None
    path = Path(mirror)
    return str(path if path.is_absolute() else REPO / path)


def target_datasets(target):
    """Datasets of a named target; the starters that come from a mirror are
    left out of the offline demo when the mirror does not hold them."""
    names = []
    for name in config["targets"][target]:
        settings = DATASETS[name]
        if target == "demo" and settings["source"] == "download" and not mirror_holds(settings):
            print(f"note: {name} skipped: data_mirror does not hold its files", file=sys.stderr)
            continue
        names.append(name)
    return names


def mirror_holds(settings):
    mirror = data_mirror()
    return mirror is not None and all(
        isinstance(f, dict) and "mirror" in f and (Path(mirror) / f["mirror"]).exists()
        for f in settings["files"].values()
    )


def dataset_outputs(dataset):
    """Every file the pipeline builds for one dataset."""
    base = f"{RESULTS}/{dataset}"
    return [
        f"{base}/prepared.h5mu",
        f"{base}/folds.tsv",
        f"{base}/embeddings/mima.h5ad",
        f"{base}/mima/outputs.h5mu",
    ]


def target_files(target):
    return [path for name in target_datasets(target) for path in dataset_outputs(name)]


def settings_of(wildcards):
    return DATASETS[wildcards.dataset]
