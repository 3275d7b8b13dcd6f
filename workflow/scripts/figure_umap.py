"""Rule figure_umap: one UMAP (input, MIMA-corrected or PoE) by batch and label."""

import _workflow_library  # noqa: F401

import anndata as ad

from mima.plot.embedding_figures import failed_figure, umap_figure
from mima.plot.style import save_figure
from mima.utils import log_to

log_to(snakemake.log[0])
umaps = ad.read_h5ad(snakemake.input[0])
view, dataset = snakemake.wildcards.view, snakemake.wildcards.dataset
kind, _, modality = view.partition("_")
title = {"input": f"{dataset} {modality} input", "corrected": f"{dataset} {modality} MIMA batch-corrected",
         "poe": f"{dataset} MIMA PoE"}[kind]
key = f"{view}_2d"
if key in umaps.obsm:
    figure = umap_figure(umaps.obsm[key], umaps.obs, title)
else:
    figure = failed_figure(title, umaps.uns.get("unavailable", {}).get(view, "not computed"))
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
