"""Rule figure_translation_maps: chosen features on tissue, true input
against their held-out 4CV translations from each other modality (the
values from rule translation_map_values)."""

import _workflow_library  # noqa: F401

import anndata as ad
import h5py
import pandas as pd

from mima.plot.embedding_figures import failed_figure, value_maps_figure
from mima.plot.style import save_figure
from mima.status import failed_rows
from mima.utils import log_to

log_to(snakemake.log[0])
values = pd.read_csv(snakemake.input.values, sep="\t", keep_default_na=False, na_values=[""],
                     dtype={"feature": str, "sample": str, "cell": str})
title = f"{snakemake.wildcards.dataset}: held-out translations on tissue (4CV)"
failed = failed_rows(values)
if not failed.empty:
    figure = failed_figure(title, f"MIMA failed in a fold: {failed['reason'].iat[0]}")
else:
    with h5py.File(snakemake.input.data, "r") as file:  # the cells' coordinates only
        cells = pd.Index(ad.io.read_elem(file["obs"]).index.astype(str))
        spatial = ad.io.read_elem(file["obsm/spatial"])
    panels, xy_rows, row_titles = [], [], []
    for (modality, feature, sample), rows in values.groupby(["modality", "feature", "sample"], sort=False):
        by_panel = dict(tuple(rows.groupby("panel", sort=False)))
        first = next(iter(by_panel.values()))
        panels.append([(panel, part["value"].to_numpy()) for panel, part in by_panel.items()])
        xy_rows.append(spatial[cells.get_indexer(first["cell"])])
        row_titles.append(f"{modality} {feature} ({sample})")
    figure = value_maps_figure(panels, xy_rows, row_titles, title)
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
