"""Rule figure_classification: accuracy, precision, recall, F1 per input,
with error bars over folds."""

import _workflow_library  # noqa: F401

import pandas as pd

from mima.plot.metric_figures import classification_bars_figure
from mima.plot.style import save_figure
from mima.utils import log_to

log_to(snakemake.log[0])
scheme = snakemake.wildcards.scheme
table = pd.read_csv(snakemake.input[0], sep="\t", keep_default_na=False, na_values=[""], dtype={"fold": str})
label = {"loocv": "leave-one-sample-out", "4cv": "within-sample 4-fold"}[scheme]
figure = classification_bars_figure(table, scheme, f"{snakemake.wildcards.dataset}: {label} classification")
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
