# MIMA pipeline. `snakemake --cores all` builds the offline demo;
# `snakemake paper --cores all` the study (downloads); `snakemake ci` the
# tiny run of the tests. Settings: config.yaml (validated at start-up).

configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/integrate.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/evaluate.smk"


rule demo:
    default_target: True
    input:
        target_files("demo"),


rule paper:
    input:
        target_files("paper"),


rule ci:
    input:
        target_files("ci"),
