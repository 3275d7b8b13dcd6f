"""Rule enrichment: gene-set scores on the RNA input and MIMA's outputs
(the outputs read a block of cells at a time)."""

import _workflow_library  # noqa: F401

import numpy as np
from threadpoolctl import threadpool_limits

from mima.data.h5_layers import LayerRows
from mima.data.h5mu_rows import H5muRows
from mima.evaluate.enrichment import enrichment_table, gene_set_score, gene_set_score_blocks, read_gene_set
from mima.status import OK
from mima.utils import log_to

log_to(snakemake.log[0])
threadpool_limits(snakemake.threads)
genes = read_gene_set(snakemake.input.gene_set)
seed = snakemake.params.seed
with H5muRows(snakemake.input.data) as data:  # only the RNA input's X, not its counts
    obs, var_names = data.obs, data.var("rna").index
    scores = {("input", "rna"): gene_set_score(data.rows("rna", np.arange(data.n_obs)), var_names, genes, seed,
                                               snakemake.input.gene_set)}
with H5muRows(snakemake.input.outputs) as outputs:
    ok = str(outputs.uns.get("status", OK)) == OK
if ok:
    for layer in ("denoised", "batch_corrected"):
        scores[("mima", f"{layer}_rna")] = gene_set_score_blocks(LayerRows(snakemake.input.outputs, "rna", layer),
                                                                 var_names, genes, seed, snakemake.input.gene_set)
labels = obs["label"].astype(str).to_numpy() if "label" in obs else None
table = enrichment_table(snakemake.wildcards.dataset, scores, obs.index, labels)
table.to_csv(snakemake.output[0], sep="\t", index=False)
