"""Rule translation_tables: MSE and R² tables of the 4CV translations,
computed a block of cells at a time (nothing cells × features is loaded)."""

import _workflow_library  # noqa: F401

import anndata as ad
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mima.data.folds import read_folds
from mima.data.h5mu_rows import H5muRows
from mima.evaluate.translation_tables import translation_tables_from_files
from mima.preprocess.pca import pca_embedding
from mima.status import OK, row_status
from mima.utils import log_to

log_to(snakemake.log[0])
threadpool_limits(snakemake.threads)
folds = read_folds(snakemake.input.folds)
# params.folds: the fold of each held-out scores file, in the order of input.scores
scores = dict(zip(snakemake.params.folds, snakemake.input.scores, strict=True))
pca = ad.read_h5ad(snakemake.input.pca)
representation = {}
with H5muRows(snakemake.input.data) as data:
    for m in data.mod:  # the kNN baseline searches the source's PCA (computed here if the PCA method failed)
        key = f"pca_{m}"
        representation[m] = (pca.obsm[key] if key in pca.obsm
                             else pca_embedding(data.rows(m, np.arange(data.n_obs)), 50, 0))
failed = {}
for fold, path in scores.items():
    with H5muRows(path) as fold_scores:
        if str(fold_scores.uns.get("status", OK)) != OK:
            failed[fold] = str(fold_scores.uns.get("reason", ""))
settings = snakemake.params.settings
if failed:  # a fold's MIMA failed: the tables say so instead of holding partial numbers
    fold, why = sorted(failed.items())[0]
    row = {"dataset": snakemake.wildcards.dataset, "method": "mima", "embedding": "", "source": "", "target": "",
           "metric": "", "value": float("nan"), **row_status(f"fold {fold}: {why}")}
    pd.DataFrame([dict(row, fold="all")]).to_csv(snakemake.output.mse, sep="\t", index=False)
    pd.DataFrame([dict(row, feature="")]).to_csv(snakemake.output.r2, sep="\t", index=False)
    pd.DataFrame(columns=["cell", "fold", "source", "target"]).to_csv(snakemake.output.per_cell, sep="\t", index=False)
else:
    mse, r2, per_cell = translation_tables_from_files(snakemake.wildcards.dataset, snakemake.input.data, folds, scores,
                                                      representation, knn=settings.get("knn", 15),
                                                      unlabelled=tuple(snakemake.params.unlabelled))
    mse, r2 = mse.assign(**row_status()), r2.assign(**row_status())
    mse.to_csv(snakemake.output.mse, sep="\t", index=False)
    r2.to_csv(snakemake.output.r2, sep="\t", index=False)
    per_cell.to_csv(snakemake.output.per_cell, sep="\t", index=False)
