"""Rule classification: LOOCV and 4CV of one input (a modality's input or
one embedding)."""

import _workflow_library  # noqa: F401

import anndata as ad
import mudata
import pandas as pd

from mima import status
from mima.data.folds import cell_folds, read_folds
from mima.evaluate.classification_tables import classify_input, failed_rows
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
settings = snakemake.params.settings
source, clf = settings["input"], settings["classification"]
dataset = snakemake.wildcards.dataset
data = mudata.read_h5mu(snakemake.input.data)
if source["kind"] == "modality":
    method, embedding, X = "input", source["name"], data.mod[source["name"]].X
else:
    method, embedding = source["method"], source["name"]
    embeddings = ad.read_h5ad(snakemake.input.embeddings)
    X = embeddings.obsm[embedding] if status.is_ok(embeddings) and embedding in embeddings.obsm else None
if X is None:
    reason = status.reason(embeddings) or f"no embedding {embedding}"
    failed_rows(dataset, method, embedding, reason).to_csv(snakemake.output.per_class, sep="\t", index=False)
    pd.DataFrame().to_csv(snakemake.output.predictions, sep="\t", index=False)
else:
    folds = cell_folds(read_folds(snakemake.input.folds), data.obs_names)
    label = data.obs["label"].astype(object)
    labels = label.where(label.notna(), "unlabelled").astype(str).to_numpy()
    rows, predictions = classify_input(
        dataset, method, embedding, X, labels, data.obs["batch"].astype(str).to_numpy(), folds,
        exclude=settings["exclude"], seed=settings["seed"], n_estimators=clf.get("n_estimators"),
        rf_n_estimators=clf.get("rf_n_estimators"), n_jobs=snakemake.threads,
        min_test_instances=clf.get("min_test_instances", 3))
    predictions.insert(0, "cell", data.obs_names[predictions["cell_index"].to_numpy()])
    rows.to_csv(snakemake.output.per_class, sep="\t", index=False)
    predictions.to_csv(snakemake.output.predictions, sep="\t", index=False)
