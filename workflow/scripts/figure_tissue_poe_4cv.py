"""Rule figure_tissue_poe_4cv: the PoE's RGB-UMAP next to the 4CV predicted
labels and the ground truth, on tissue, per sample."""

import _workflow_library  # noqa: F401

import anndata as ad
import pandas as pd

from mima.plot.embedding_figures import poe_predictions_figure
from mima.plot.style import save_figure
from mima.figure_choices import choose_samples
from mima.utils import log_to

log_to(snakemake.log[0])
umaps = ad.read_h5ad(snakemake.input.umap)
figures = snakemake.params.settings["figures"]
samples = choose_samples(umaps.obs["batch"], figures.get("samples"))
predicted = None
if "predictions" in snakemake.input.keys():
    table = pd.read_csv(snakemake.input.predictions, sep="\t")
    if "cell" in table:  # a failed PoE writes no per-cell predictions
        cv = table[table["scheme"] == "4cv"]
        predicted = pd.Series(cv["predicted"].astype(str).to_numpy(), index=cv["cell"].astype(str))
obs = umaps.obs if "label" in umaps.obs else umaps.obs.assign(label="unlabelled")
figure = poe_predictions_figure(umaps.obsm.get("poe_3d"), obs, umaps.obsm["spatial"], predicted, samples,
                                f"{snakemake.wildcards.dataset}: MIMA PoE, 4CV predictions and annotation on tissue")
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
