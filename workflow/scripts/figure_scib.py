"""Rule figure_scib: scIB bio conservation against batch correction."""

import _workflow_library  # noqa: F401

import pandas as pd

from mima.plot.metric_figures import scib_scatter_figure
from mima.plot.style import save_figure
from mima.utils import log_to

log_to(snakemake.log[0])
table = pd.read_csv(snakemake.input[0], sep="\t", keep_default_na=False, na_values=[""])
figure = scib_scatter_figure(table, f"{snakemake.wildcards.dataset}: scIB bio conservation vs batch correction")
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
