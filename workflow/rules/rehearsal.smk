# The rehearsal (config `rehearsal:`): stand-ins of the study's datasets,
# simulated with the study's exact shapes in the published file layouts,
# written into a mirror folder; the rehearsal datasets then go through the
# real download rules (checksums included) and the rest of the `paper` DAG.

from snakemake.exceptions import WorkflowError


wildcard_constraints:
    record="[0-9]+",


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


rule standin_geo:
    output:
        f"{STANDINS}/geo/{{filename}}",
    log:
        f"{STANDINS}/logs/standin_geo_{{filename}}.log",
    benchmark:
        f"{STANDINS}/benchmarks/standin_geo_{{filename}}.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        settings=standin_params("geo"),
        mirror=STANDINS,
    script:
        "../scripts/standin.py"


rule standin_zenodo:
    output:
        directory(f"{STANDINS}/zenodo/{{record}}"),
    log:
        f"{STANDINS}/logs/standin_zenodo_{{record}}.log",
    benchmark:
        f"{STANDINS}/benchmarks/standin_zenodo_{{record}}.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        settings=standin_params("zenodo"),
        mirror=STANDINS,
    script:
        "../scripts/standin.py"
