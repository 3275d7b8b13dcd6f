"""Rule folds: within-sample 4CV folds of every cell."""

import _workflow_library  # noqa: F401

import mudata

from mima.data.folds import within_sample_folds
from mima.utils import log_to

log_to(snakemake.log[0])
obs = mudata.read_h5mu(snakemake.input[0], backed="r").obs
folds = within_sample_folds(obs["batch"], snakemake.params.n_folds, snakemake.params.seed)
folds.to_csv(snakemake.output[0], sep="\t", index=False)
