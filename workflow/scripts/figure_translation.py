"""Rule figure_translation: MSE boxes and r² distributions of the 4CV
translations."""

import _workflow_library  # noqa: F401

import pandas as pd

from mima.plot.metric_figures import translation_mse_figure, translation_r2_figure
from mima.plot.style import save_figure
from mima.utils import log_to

log_to(snakemake.log[0])
dataset = snakemake.wildcards.dataset
per_cell = pd.read_csv(snakemake.input.per_cell, sep="\t")
r2 = pd.read_csv(snakemake.input.r2, sep="\t", keep_default_na=False, na_values=[""])
save_figure(translation_mse_figure(per_cell, f"{dataset}: held-out translation MSE (4CV)"),
            snakemake.output.mse_png, snakemake.output.mse_pdf)
save_figure(translation_r2_figure(r2, f"{dataset}: per-feature r² of held-out translations (4CV)"),
            snakemake.output.r2_png, snakemake.output.r2_pdf)
