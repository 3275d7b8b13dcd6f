"""Rule run_info: the package versions and the effective configuration of the run."""

import _workflow_library  # noqa: F401

import pandas as pd
import yaml

from mima.config import config_digest, effective_config
from mima.utils import log_to

log_to(snakemake.log[0])
versions = snakemake.params.versions
pd.DataFrame({"package": list(versions), "version": list(versions.values())}).to_csv(
    snakemake.output.versions, sep="\t", index=False)
settings = effective_config(snakemake.config)
if config_digest(snakemake.config) != snakemake.params.config_sha256:
    raise RuntimeError("the job's config differs from the one the workflow started with: rerun snakemake")
with open(snakemake.output.config, "w") as handle:
    handle.write(f"# effective configuration of the run (sha256 {snakemake.params.config_sha256})\n")
    yaml.safe_dump(settings, handle, sort_keys=True, default_flow_style=False)
print(f"recorded {len(versions)} package versions and the settings of {len(settings['datasets'])} datasets")
