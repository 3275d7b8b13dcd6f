"""Rule figure_enrichment: gene-set scores of the RNA input and of MIMA's
reconstructions, on tissue (spatial data) or on the RNA input's UMAP."""

import _workflow_library  # noqa: F401

import anndata as ad
import pandas as pd

from mima.plot.embedding_figures import value_maps_figure
from mima.plot.style import save_figure
from mima.figure_choices import choose_samples
from mima.utils import log_to

log_to(snakemake.log[0])
umaps = ad.read_h5ad(snakemake.input.umap)
table = pd.read_csv(snakemake.input.scores, sep="\t", keep_default_na=False, na_values=[""])
scores = table[table["metric"] == "score"]
dataset = snakemake.wildcards.dataset
columns = list(dict.fromkeys(zip(scores["method"], scores["embedding"])))
values = {key: part.set_index("cell")["value"].reindex(umaps.obs_names).to_numpy()
          for key, part in scores.groupby(["method", "embedding"])}
if snakemake.params.spatial:
    batch = umaps.obs["batch"].astype(str)
    samples = choose_samples(batch, snakemake.params.settings["figures"].get("samples"))
    masks = [(batch == s).to_numpy() for s in samples]
    xy_rows = [umaps.obsm["spatial"][m] for m in masks]
    row_titles = samples
else:
    masks = [slice(None)]
    xy_rows = [umaps.obsm["input_rna_2d"]]
    row_titles = ["RNA input UMAP"]
panels = [[(f"{method} {embedding}", values[(method, embedding)][mask]) for method, embedding in columns]
          for mask in masks]
figure = value_maps_figure(panels, xy_rows, row_titles, f"{dataset}: gene-set score", tissue=snakemake.params.spatial)
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
