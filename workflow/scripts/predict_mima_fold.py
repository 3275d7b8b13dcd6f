"""Rule predict_mima_fold: the held-out scores of one fold (each held-out
cell's translation and reconstruction MSEs, per-feature agreement), from
predictions computed a block of cells at a time and never stored."""

import _workflow_library  # noqa: F401

import mudata
import torch

from mima.api import MIMA
from mima.data.atomic_write import write_h5mu_atomic
from mima.data.folds import fold_masks, read_folds
from mima.data.h5mu_rows import H5muRows
from mima.evaluate.heldout import write_heldout_scores
from mima.outputs import failed_outputs_from_file
from mima.status import read_failure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
torch.set_num_threads(snakemake.threads)
with H5muRows(snakemake.input.data) as reader:
    obs_names = reader.obs_names
_, heldout_mask = fold_masks(read_folds(snakemake.input.folds), obs_names, int(snakemake.wildcards.fold))
failure = read_failure(snakemake.input.model)
if failure is not None:
    write_h5mu_atomic(failed_outputs_from_file(snakemake.input.data, failure, rows=heldout_mask), snakemake.output[0])
else:
    write_heldout_scores(MIMA.load(snakemake.input.model), snakemake.input.data, heldout_mask, snakemake.output[0])
