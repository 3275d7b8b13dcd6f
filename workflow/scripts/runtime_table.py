"""Rule runtime_table: wall time and peak memory of every method's jobs."""

from pathlib import Path

import anndata as ad

from mima.evaluate.runtime import runtime_table
from mima.utils import log_to

log_to(snakemake.log[0])
methods = snakemake.params.methods
benchmarks = {m: [] for m in methods}
for path in snakemake.input.benchmarks:
    job = Path(path).stem  # train_mima, embed_mima, embed_<method>
    benchmarks[job.split("_", 1)[1]].append(path)
statuses = {}
for path in snakemake.input.embeddings:
    embedding = ad.read_h5ad(path, backed="r")
    statuses[embedding.uns["method"]["name"]] = (str(embedding.uns.get("status", "ok")), str(embedding.uns.get("reason", "")))
table = runtime_table(snakemake.wildcards.dataset, benchmarks, statuses)
table.to_csv(snakemake.output[0], sep="\t", index=False)
