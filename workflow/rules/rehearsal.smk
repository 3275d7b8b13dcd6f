# The rehearsal (config `rehearsal:`): stand-ins of the study's datasets,
# simulated with the study's exact shapes in the published file layouts,
# written into a mirror folder; the rehearsal datasets then go through the
# real download rules (checksums included) and the rest of the `paper` DAG.


wildcard_constraints:
    record="[0-9]+",


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
        # the mirror folder: two levels above the file (geo/<file>, zenodo/<record>)
        mirror=lambda w, output: str(Path(output[0]).parents[1]),
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
        # the mirror folder: two levels above the file (geo/<file>, zenodo/<record>)
        mirror=lambda w, output: str(Path(output[0]).parents[1]),
    script:
        "../scripts/standin.py"
