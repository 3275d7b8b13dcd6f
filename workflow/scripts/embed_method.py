"""Rules embed_<method>: one competitor's embeddings (or its failure record)."""

import _workflow_library  # noqa: F401

import mudata

from mima.data.atomic_write import write_h5ad_atomic
from mima.methods import run_method
from mima.status import is_ok, reason
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
settings = snakemake.params.settings
data = mudata.read_h5mu(snakemake.input[0])
result = run_method(snakemake.params.method, data, settings["modalities"], settings["params"], settings["seed"],
                    threads=snakemake.threads, source=snakemake.input[0])
print(f"status: {'ok' if is_ok(result) else 'failed: ' + reason(result)}; embeddings {list(result.obsm)}")
write_h5ad_atomic(result, snakemake.output[0])
