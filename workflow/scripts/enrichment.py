"""Rule enrichment: gene-set scores on the RNA input and MIMA's outputs."""

import _workflow_library  # noqa: F401

import mudata

from mima.evaluate.enrichment import enrichment_table, gene_set_score, read_gene_set
from mima.status import is_ok
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
outputs = mudata.read_h5mu(snakemake.input.outputs)
genes = read_gene_set(snakemake.input.gene_set)
rna = data.mod["rna"]
scores = {("input", "rna"): gene_set_score(rna.X, rna.var_names, genes, snakemake.params.seed, snakemake.input.gene_set)}
if is_ok(outputs):
    for layer in ("denoised", "batch_corrected"):
        scores[("mima", f"{layer}_rna")] = gene_set_score(outputs.mod["rna"].layers[layer], rna.var_names, genes,
                                                          snakemake.params.seed, snakemake.input.gene_set)
labels = data.obs["label"].astype(str).to_numpy() if "label" in data.obs else None
enrichment_table(snakemake.wildcards.dataset, scores, data.obs_names, labels).to_csv(snakemake.output[0], sep="\t", index=False)
