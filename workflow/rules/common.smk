# Config validation and helpers shared by every rule file.

import math
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from snakemake.exceptions import WorkflowError

from mima.config import dataset_settings, deep_merge, validate_config
from mima.errors import InputError
from mima.methods import registry
from mima.rehearsal import with_rehearsal

REPO = Path(workflow.basedir)
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

try:
    validate_config(config, SCHEMA)
except InputError as error:
    sys.exit(f"Invalid configuration: {error}")

RESULTS = config["results"]
DOWNLOADS = config.get("downloads", "downloads")
# The rehearsal's stand-ins are written here and read through the real
# download code, as from a data mirror (workflow/rules/rehearsal.smk).
STANDINS = f"{DOWNLOADS}/standin-mirror"  # a name no dataset can have
config.update(with_rehearsal(config, str(Path(STANDINS).resolve())))
try:
    validate_config(config, SCHEMA)
except InputError as error:
    sys.exit(f"Invalid configuration (rehearsal: settings): {error}")
DATASETS = {name: dataset_settings(config, name) for name in config["datasets"]}
LOGS = f"{RESULTS}/{{dataset}}/logs"
BENCHMARKS = f"{RESULTS}/{{dataset}}/benchmarks"


wildcard_constraints:
    dataset="[A-Za-z0-9_]+",
    modality="[A-Za-z0-9_]+",
    filename="[A-Za-z0-9_][A-Za-z0-9_.-]*",
    fold="[0-9]+",
    clf_input="[A-Za-z0-9_]+-[A-Za-z0-9_]+",
    method="[a-z_]+",
    target="[A-Za-z0-9_]+",
    table="[a-z0-9_]+",


# Downloads need the internet (cluster compute nodes often lack it) and the
# gathering jobs take seconds: they run where Snakemake runs, never as
# cluster jobs.
localrules:
    download_file,
    download_geo,
    download_zenodo,
    run_info,
    runtime_table,
    classification_tables,
    summary_table,


def data_mirror(dataset=None):
    """The mirror folder of ``dataset`` (its own ``data_mirror``, else the
    global one; relative paths are relative to the repository)."""
    mirror = config.get("data_mirror")
    if dataset is not None and DATASETS[dataset].get("data_mirror"):
        mirror = DATASETS[dataset]["data_mirror"]
    if not mirror:
        return None
    path = Path(mirror)
    return str(path if path.is_absolute() else REPO / path)


def memory_mb(floor_mb, per_input_mb):
    """A rule's declared memory: ``floor_mb``, or ``per_input_mb`` MB per MB
    of its inputs when that is more. The factors are the peaks measured in
    the rehearsal (README, "The study at full size") plus 20 %, for rules
    whose memory follows the size of what they read."""

    def mem_mb(wildcards, input):
        return max(floor_mb, math.ceil(per_input_mb * input.size_mb))

    return mem_mb


def local_path(path):
    """A user's data path: relative paths are relative to the repository
    (the folder of config.yaml), so `--directory` elsewhere still finds them."""
    return str(path if Path(path).is_absolute() else REPO / path)


def local_inputs_missing(settings):
    """Local files a dataset needs and that are absent (user files, or
    mirrored downloads when the mirror is the only way offline)."""
    if settings["source"] == "files":
        paths = [settings["h5mu"]] if settings.get("h5mu") else list(settings["files"].values())
        return [p for p in map(local_path, paths) if not Path(p).exists()]
    if settings["source"] == "download":
        mirror = data_mirror(settings["name"])
        if mirror is None:  # downloaded from their URLs
            return []
        wanted = [Path(mirror) / f.get("mirror", "") for f in settings["files"].values()]
        return [str(p) for p in wanted if not p.is_file()]
    return []


def shared_data_only(settings, missing):
    """Whether absent files are shared data an offline target may do without
    (mirrored downloads, files inside data_mirror such as the real starters).
    A user's own absent file is not: raw_inputs stops the run on it."""
    if settings["source"] == "download":
        return True
    mirror = data_mirror(settings["name"])
    return bool(mirror) and all(
        Path(p).resolve().is_relative_to(Path(mirror).resolve()) for p in missing
    )


def target_datasets(target):
    """Datasets of a named target. Targets other than `paper` leave out, with a
    note, datasets whose mirrored or shared files are absent (the real
    starters when data_mirror lacks them); `paper` downloads what it needs."""
    names = []
    for name in config["targets"].get(target, []):  # only demo, paper and ci are required
        missing = local_inputs_missing(DATASETS[name])
        if target != "paper" and missing and shared_data_only(DATASETS[name], missing):
            print(
                f"note: dataset {name} left out of target {target}: {missing[0]} is absent",
                file=sys.stderr,
            )
            continue
        names.append(name)
    return names


def embedding_files(dataset):
    """The embeddings file of MIMA and of every method of the dataset."""
    return [
        f"{RESULTS}/{dataset}/embeddings/{m}.h5ad" for m in ["mima"] + DATASETS[dataset]["methods"]
    ]


def method_benchmarks(dataset):
    """Benchmark tables of every job that produces a method's embeddings
    (MIMA: training and embedding), keyed by method."""
    base = f"{RESULTS}/{dataset}/benchmarks"
    tables = {"mima": [f"{base}/train_mima.tsv", f"{base}/embed_mima.tsv"]}
    tables.update({m: [f"{base}/embed_{m}.tsv"] for m in DATASETS[dataset]["methods"]})
    return tables


def flat_benchmarks(dataset):
    """(method of each benchmark file, benchmark files): the runtime table's
    input list and the method each file belongs to, aligned."""
    pairs = [
        (method, path) for method, paths in method_benchmarks(dataset).items() for path in paths
    ]
    return [method for method, _ in pairs], [path for _, path in pairs]


def method_settings(dataset, method):
    """Parameters of one method on one dataset. A method registered with
    ``mima_settings`` (MIMA-Unimodal) trains with the dataset's MIMA
    settings, its own method_params overriding them."""
    settings = DATASETS[dataset]
    params = settings["method_params"].get(method, {})
    if registry.get(method).mima_settings:
        params = deep_merge(settings["mima"], params)
    return {
        "modalities": list(settings["modalities"]),
        "params": canonical(params),
        "seed": settings["seed"],
    }


def has_labels(dataset):
    """Whether the dataset carries annotations (simulated data always does)."""
    settings = DATASETS[dataset]
    return settings["source"] == "simulate" or bool(settings.get("label_key"))


def table_applies(dataset, table):
    """Whether a dataset gets a table (labels, several modalities, a gene set)."""
    settings = DATASETS[dataset]
    if table.startswith("classification"):
        return has_labels(dataset) and settings["evaluation"]["classification"].get("enabled", True)
    if table.startswith("translation"):
        return len(settings["modalities"]) > 1
    if table == "enrichment":
        return bool(settings["evaluation"].get("gene_set")) and "rna" in settings["modalities"]
    return True


TABLES = [
    "scib",
    "classification_loocv",
    "classification_4cv",
    "translation_mse",
    "translation_r2",
    "runtime",
    "enrichment",
]


def fold_files(dataset, name):
    """``{fold: path}``: one file per within-sample fold of the dataset's
    MIMA 4CV, in fold order. A rule takes the paths as an input list and
    the folds as ``params.folds`` (aligned), so its script never parses a
    fold out of a path."""
    n_folds = DATASETS[dataset]["preprocess"].get("n_folds", 4)
    return {fold: f"{RESULTS}/{dataset}/mima/cv/{fold}/{name}" for fold in range(n_folds)}


def classification_input_names(dataset):
    """Inputs classified: every modality's input (``input-<m>``) and each
    configured embedding (``<method>-<embedding>``) of a method the dataset runs."""
    settings = DATASETS[dataset]
    names = [f"input-{m}" for m in settings["modalities"]]
    for entry in settings["evaluation"]["classification"].get("embeddings", []):
        method, embedding = entry.split(":")
        if method == "mima" or method in settings["methods"]:
            names.append(f"{method}-{embedding}")
    return names


def classification_inputs(wildcards):
    base = f"{RESULTS}/{wildcards.dataset}"
    inputs = {"data": f"{base}/prepared.h5mu", "folds": f"{base}/folds.tsv"}
    method = wildcards.clf_input.split("-", 1)[0]
    if method != "input":
        inputs["embeddings"] = f"{base}/embeddings/{method}.h5ad"
    return inputs


def classification_params(wildcards):
    settings = DATASETS[wildcards.dataset]
    kind, name = wildcards.clf_input.split("-", 1)
    return {
        "input": {
            "kind": "modality" if kind == "input" else "embedding",
            "method": kind,
            "name": name,
        },
        "classification": canonical(settings["evaluation"]["classification"]),
        # configured exclusions, and cells without an annotation
        "exclude": sorted(
            set(settings.get("exclude_labels", []))
            | set(settings["evaluation"]["scib"].get("unlabelled", []))
        ),
        "seed": settings["seed"],
    }


def dataset_outputs(dataset):
    """Every file the pipeline builds for one dataset."""
    base = f"{RESULTS}/{dataset}"
    return [
        f"{base}/prepared.h5mu",
        f"{base}/mima/outputs.h5mu",
        *embedding_files(dataset),
        *[f"{base}/tables/{table}.tsv" for table in TABLES if table_applies(dataset, table)],
        *figure_files(dataset),
    ]


def target_files(target):
    datasets = target_datasets(target)
    summaries = [
        f"{RESULTS}/summary/{target}/{table}.tsv"
        for table in TABLES
        if any(table_applies(d, table) for d in datasets)
    ]
    return [path for name in datasets for path in dataset_outputs(name)] + summaries


def settings_of(wildcards):
    return DATASETS[wildcards.dataset]


# --- params and inputs of the rules: each rule sees only the settings it
# depends on, so a changed setting reruns just the jobs it affects.


def canonical(value):
    """Dicts with sorted keys, recursively: the same settings written in
    another key order are the same params (no rerun). Orders that matter
    (the modalities) are passed as lists."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def raw_params(wildcards):
    """Only what determines the raw data: a change elsewhere keeps it."""
    settings = DATASETS[wildcards.dataset]
    keys = (
        "name",
        "source",
        "simulate",
        "files",
        "h5mu",
        "url",
        "record",
        "batch_key",
        "label_key",
        "spatial_key",
        "seed",
    )
    raw = {key: settings[key] for key in keys if key in settings}
    raw["modalities"] = list(settings["modalities"])
    return canonical(raw)


def geo_file_name(settings):
    """The GEO file's own name (the last part of its URL)."""
    return PurePosixPath(urlparse(settings["url"]).path).name


def raw_inputs(wildcards):
    """Named inputs of raw_dataset: one per modality, or the one file or
    folder the source provides (``h5mu``, ``geo``, ``zenodo``)."""
    settings = DATASETS[wildcards.dataset]
    folder = f"{DOWNLOADS}/{wildcards.dataset}"
    source = settings["source"]
    if source == "simulate":
        return {}
    if source == "files":
        files = {"h5mu": settings["h5mu"]} if settings.get("h5mu") else settings["files"]
        for key, path in files.items():  # a missing user file: one line before any job runs
            if not Path(local_path(path)).exists():
                field = (
                    f"datasets.{wildcards.dataset}.{'h5mu' if key == 'h5mu' else f'files.{key}'}"
                )
                error = InputError(
                    "config.yaml",
                    field,
                    f"{local_path(path)} does not exist",
                    "correct the path (relative paths are relative to the folder of config.yaml)",
                )
                sys.exit(f"Invalid input: {error}")
        return {key: local_path(path) for key, path in files.items()}
    if source == "download":
        return {modality: f"{folder}/{modality}.h5ad" for modality in settings["files"]}
    if source == "geo":
        return {"geo": f"{folder}/geo/{geo_file_name(settings)}"}
    return {"zenodo": f"{folder}/zenodo"}


def prepare_params(wildcards):
    settings = DATASETS[wildcards.dataset]
    return {
        **canonical(
            {
                "name": settings["name"],
                "modalities": settings["modalities"],
                "preprocess": settings["preprocess"],
            }
        ),
        "modality_order": list(settings["modalities"]),
    }


def mima_params(wildcards):
    settings = DATASETS[wildcards.dataset]
    return {"modalities": list(settings["modalities"]), "mima": canonical(settings["mima"])}


# --- figures (workflow/rules/figures.smk)

FIGURES = f"{RESULTS}/{{dataset}}/figures"


def is_spatial(dataset):
    return bool(DATASETS[dataset].get("spatial_key"))


def figure_names(dataset):
    """The panels that apply to a dataset (its modalities, labels, tissue
    coordinates, evaluation settings)."""
    settings = DATASETS[dataset]
    modalities = list(settings["modalities"])
    names = (
        [f"umap_input_{m}" for m in modalities]
        + [f"umap_corrected_{m}" for m in modalities]
        + ["umap_poe"]
    )
    names += ["scib_bio_vs_batch", "qc_sparsity", "qc_hvf_selection"]
    if has_labels(dataset):
        names.append("qc_annotation_counts")
    if table_applies(dataset, "classification_loocv"):
        names += ["classification_loocv", "classification_4cv"]
    if table_applies(dataset, "translation_mse"):
        names += ["translation_mse", "translation_r2"]
    if table_applies(dataset, "enrichment"):
        names.append("enrichment_map")
    if is_spatial(dataset):
        names += [f"rgb_{m}" for m in modalities] + ["tissue_poe_4cv"]
        if table_applies(dataset, "translation_mse"):
            names.append("translation_maps")
    return names


def figure_files(dataset):
    return [
        f"{RESULTS}/{dataset}/figures/{name}.{ext}"
        for name in figure_names(dataset)
        for ext in ("png", "pdf")
    ]


def tissue_poe_inputs(wildcards):
    """The PoE UMAP and data, and the PoE's 4CV predictions when the dataset
    classifies MIMA's PoE."""
    base = f"{RESULTS}/{wildcards.dataset}"
    inputs = {"umap": f"{base}/umap.h5ad", "data": f"{base}/prepared.h5mu"}
    if "mima-poe" in classification_input_names(wildcards.dataset) and table_applies(
        wildcards.dataset, "classification_4cv"
    ):
        inputs["predictions"] = f"{base}/classification/mima-poe_predictions.tsv.gz"
    return inputs


def figure_params(wildcards):
    """What the tissue panels show (DESIGN §5: config), and the seed."""
    settings = DATASETS[wildcards.dataset]
    return canonical({"figures": settings.get("figures", {}), "seed": settings["seed"]})


def figure_output(name, caption, subcategory):
    """PNG (in the report, with a caption) and PDF of one panel."""
    return {
        "png": report(
            f"{FIGURES}/{name}.png",
            caption=f"../report/{caption}.rst",
            category="{dataset}",
            subcategory=subcategory,
            labels={"dataset": "{dataset}", "figure": name},
        ),
        "pdf": f"{FIGURES}/{name}.pdf",
    }


# --- the rehearsal's stand-ins (rehearsal.smk)


def standin_dataset(kind, key):
    """The rehearsal dataset whose stand-in is the GEO file ``key`` (kind
    ``geo``) or the Zenodo record ``key`` (kind ``zenodo``)."""
    for name, settings in DATASETS.items():
        if "standin" not in settings or settings["source"] != kind:
            continue
        own = geo_file_name(settings) if kind == "geo" else str(settings["record"])
        if own == key:
            return name
    raise WorkflowError(f"no rehearsal dataset has the stand-in {kind}/{key}")


def standin_params(kind):
    def params(wildcards):
        key = wildcards.filename if kind == "geo" else wildcards.record
        settings = DATASETS[standin_dataset(kind, key)]
        return {**settings["standin"], "seed": settings["seed"]}

    return params


def standin_input(wildcards):
    """The stand-in a rehearsal dataset's download reads (none for others)."""
    settings = DATASETS[wildcards.dataset]
    if "standin" not in settings:
        return []
    if settings["source"] == "geo":
        return f"{STANDINS}/geo/{geo_file_name(settings)}"
    return f"{STANDINS}/zenodo/{settings['record']}"


def report_recorded_failures():
    """Print, as the run's last lines, every failure its datasets recorded
    and what to delete to redo it (the run itself succeeds: failed methods
    are results too, DESIGN §2)."""
    from mima.status import failure_summary, recorded_failures

    summary = failure_summary(recorded_failures(RESULTS, DATASETS))
    if summary:
        print(summary, file=sys.stderr)


def download_lock_file(wildcards):
    """The sha256 lock file of a ``source: download`` dataset's files
    without md5 / sha256: the dataset's ``lock:`` (relative to the
    repository), else ``downloads/<dataset>/checksums.lock.tsv``."""
    configured = DATASETS[wildcards.dataset].get("lock")
    return (
        str(REPO / configured)
        if configured
        else f"{DOWNLOADS}/{wildcards.dataset}/checksums.lock.tsv"
    )
