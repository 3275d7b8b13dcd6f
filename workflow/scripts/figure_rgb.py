"""Rule figure_rgb: RGB-UMAP of a modality's input and of MIMA's
batch-corrected reconstruction on tissue, per sample."""

import _workflow_library  # noqa: F401

import anndata as ad

from mima.plot.embedding_figures import failed_figure, rgb_tissue_figure
from mima.plot.style import save_figure
from mima.figure_choices import choose_samples
from mima.utils import log_to

log_to(snakemake.log[0])
umaps = ad.read_h5ad(snakemake.input.umap)
modality, dataset = snakemake.wildcards.modality, snakemake.wildcards.dataset
figures = snakemake.params.settings["figures"]
samples = choose_samples(umaps.obs["batch"], figures.get("samples"))
rows = {title: umaps.obsm[f"{view}_3d"] for title, view in
        ((f"{modality} input", f"input_{modality}"), (f"{modality} MIMA corrected", f"corrected_{modality}"))
        if f"{view}_3d" in umaps.obsm}
title = f"{dataset}: RGB-UMAP of {modality} on tissue"
if "spatial" not in umaps.obsm:
    figure = failed_figure(title, "the dataset has no tissue coordinates (obsm['spatial'])")
else:
    figure = rgb_tissue_figure(rows, umaps.obs, umaps.obsm["spatial"], samples, title)
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
