"""Rule runtime_table: wall time and peak memory of every method's jobs."""

import _workflow_library  # noqa: F401

import anndata as ad

from mima.evaluate.runtime import runtime_table
from mima.status import FAILED, OK, is_ok, reason
from mima.utils import log_to

log_to(snakemake.log[0])

# params.methods[i] produced input.embeddings[i]; params.benchmark_methods[j]
# is the method whose job wrote input.benchmarks[j]
benchmarks = {m: [] for m in snakemake.params.methods}
for method, path in zip(snakemake.params.benchmark_methods, snakemake.input.benchmarks, strict=True):
    benchmarks[method].append(path)
statuses = {}
for method, path in zip(snakemake.params.methods, snakemake.input.embeddings, strict=True):
    embedding = ad.read_h5ad(path, backed="r")
    statuses[method] = (OK, "") if is_ok(embedding) else (FAILED, reason(embedding))
table = runtime_table(snakemake.wildcards.dataset, benchmarks, statuses)
table.to_csv(snakemake.output[0], sep="\t", index=False)
