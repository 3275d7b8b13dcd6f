# The run record: package versions and the effective configuration (every
# dataset's resolved settings), written into the results by every named
# target, so a table can always be traced to the software and settings that
# made it.

from mima.config import config_digest
from mima.utils import package_versions

RUN_INFO = f"{RESULTS}/run_info"
RUN_INFO_FILES = [
    f"{RUN_INFO}/versions.tsv",
    f"{RUN_INFO}/config.yaml",
]  # an input of every named target


rule run_info:
    # The versions (of the environment running Snakemake, which in the
    # default profile runs every job) and the config's digest are params:
    # an upgraded package or a changed setting reruns the record, and
    # nothing else depends on it. The job writes the config from its own
    # copy (snakemake.config), so the params stay short in Snakemake's
    # "reason" output.
    output:
        versions=f"{RUN_INFO}/versions.tsv",
        config=f"{RUN_INFO}/config.yaml",
    log:
        f"{RUN_INFO}/logs/run_info.log",
    benchmark:
        f"{RUN_INFO}/benchmarks/run_info.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        versions=package_versions(),
        config_sha256=config_digest(config),
    script:
        "../scripts/run_info.py"
