"""Rule scib: raw, scaled and aggregated scIB metrics of every embedding of
every method of one dataset. Metrics that cannot be computed (no label
column, one batch, ...) are left out of the table with a notice in the log
(see mima.evaluate.scib.tables)."""

import _workflow_library  # noqa: F401

import anndata as ad
import mudata
import pandas as pd

from mima.evaluate.scib import method_scib_rows, scib_table
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
prepared = mudata.read_h5mu(snakemake.input.data, backed="r")
obs, modalities = prepared.obs, list(prepared.mod)
pca = ad.read_h5ad(snakemake.input.pca)
raw = pd.concat([method_scib_rows(snakemake.wildcards.dataset, ad.read_h5ad(path), obs, modalities, pca,
                                  snakemake.params.settings, snakemake.params.seed, n_jobs=snakemake.threads)
                 for path in snakemake.input.embeddings], ignore_index=True)
scib_table(raw).to_csv(snakemake.output[0], sep="\t", index=False)
