"""Rule figure_qc: supplementary panels (sparsity, HVF selection,
annotation counts per sample)."""

import _workflow_library  # noqa: F401

import mudata

from mima.plot.qc_figures import annotation_counts_figure, hvf_figure, sparsity_figure
from mima.plot.style import save_figure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input[0])
dataset, panel = snakemake.wildcards.dataset, snakemake.wildcards.qc
if panel == "sparsity":
    figure = sparsity_figure(data, f"{dataset}: detection per cell and per feature")
elif panel == "hvf_selection":
    figure = hvf_figure(data, f"{dataset}: highly variable (evaluation) features")
else:
    figure = annotation_counts_figure(data.obs, f"{dataset}: annotations per sample")
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
