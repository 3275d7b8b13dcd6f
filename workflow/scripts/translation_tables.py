"""Rule translation_tables: MSE and R² tables of the 4CV translations."""

import _workflow_library  # noqa: F401

import anndata as ad
import mudata
import pandas as pd

from mima.data.folds import read_folds
from mima.evaluate.translation_tables import translation_tables
from mima.preprocess.pca import pca_embedding
from mima.status import is_ok, reason, row_status
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
folds = read_folds(snakemake.input.folds)
# params.folds: the fold of each held-out file, in the order of input.heldout
heldout = {fold: mudata.read_h5mu(p) for fold, p in zip(snakemake.params.folds, snakemake.input.heldout, strict=True)}
pca = ad.read_h5ad(snakemake.input.pca)
representation = {}
for m in data.mod:  # the kNN baseline searches the source's PCA (computed here if the PCA method failed)
    key = f"pca_{m}"
    representation[m] = pca.obsm[key] if key in pca.obsm else pca_embedding(data.mod[m].X, 50, 0)
settings = snakemake.params.settings
failed = {fold: reason(p) for fold, p in heldout.items() if not is_ok(p)}
if failed:  # a fold's MIMA failed: the tables say so instead of holding partial numbers
    fold, why = sorted(failed.items())[0]
    row = {"dataset": snakemake.wildcards.dataset, "method": "mima", "embedding": "", "source": "", "target": "",
           "metric": "", "value": float("nan"), **row_status(f"fold {fold}: {why}")}
    pd.DataFrame([dict(row, fold="all")]).to_csv(snakemake.output.mse, sep="\t", index=False)
    pd.DataFrame([dict(row, feature="")]).to_csv(snakemake.output.r2, sep="\t", index=False)
    pd.DataFrame(columns=["cell", "fold", "source", "target"]).to_csv(snakemake.output.per_cell, sep="\t", index=False)
else:
    mse, r2, per_cell = translation_tables(snakemake.wildcards.dataset, data, folds, heldout, representation,
                                           knn=settings.get("knn", 15), unlabelled=tuple(snakemake.params.unlabelled))
    mse, r2 = mse.assign(**row_status()), r2.assign(**row_status())
    mse.to_csv(snakemake.output.mse, sep="\t", index=False)
    r2.to_csv(snakemake.output.r2, sep="\t", index=False)
    per_cell.to_csv(snakemake.output.per_cell, sep="\t", index=False)
