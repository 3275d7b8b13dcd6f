# MIMA pipeline. `snakemake --cores all` builds the offline demo;
# `snakemake starters` the real BMMC starters (downloaded, or from data_mirror);
# `snakemake paper --cores all` the study (downloads); `snakemake ci` the
# tiny run of the tests; `snakemake rehearsal` the study's DAG on stand-ins of
# its datasets (offline). Settings: config.yaml (validated at start-up).

import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The workflow's own library (workflow/mima) comes first on the import path,
# here and in every rule script (workflow/scripts/_workflow_library.py), in
# whatever environment a job runs: the pipeline never depends on an
# installed copy of it.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/rehearsal.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/integrate.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/record.smk"
include: "workflow/rules/figures.smk"


# A method that fails is recorded and the run goes on (DESIGN §2); its
# failure and how to redo it are the run's last lines.
onsuccess:
    report_recorded_failures()


onerror:
    report_recorded_failures()


rule demo:
    default_target: True
    input:
        target_files("demo"),
        RUN_INFO_FILES,


rule starters:
    input:
        target_files("starters"),
        RUN_INFO_FILES,


rule paper:
    input:
        target_files("paper"),
        RUN_INFO_FILES,


rule ci:
    input:
        target_files("ci"),
        RUN_INFO_FILES,


rule rehearsal:
    input:
        target_files("rehearsal"),
        RUN_INFO_FILES,


# One target per rehearsal dataset (`snakemake rehearsal_neurips_cite`):
# the rehearsal one dataset at a time.
for _target in config["targets"]["rehearsal"]:

    rule:
        name:
            _target
        input:
            target_files(_target),
            RUN_INFO_FILES,
