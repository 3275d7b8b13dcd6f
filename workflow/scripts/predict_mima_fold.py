"""Rule predict_mima_fold: translations and reconstructions of one fold's
held-out cells, on the evaluation features."""

import _workflow_library  # noqa: F401

import mudata

from mima.api import MIMA
from mima.data.atomic_write import write_h5mu_atomic
from mima.data.folds import fold_masks, read_folds
from mima.evaluate.heldout import heldout_predictions
from mima.status import failed_outputs, mark_ok, read_failure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
_, heldout_mask = fold_masks(read_folds(snakemake.input.folds), data.obs_names, int(snakemake.wildcards.fold))
failure = read_failure(snakemake.input.model)
if failure is not None:
    predictions = failed_outputs(data, failure, rows=heldout_mask)
else:
    predictions = heldout_predictions(MIMA.load(snakemake.input.model), data[heldout_mask].copy())
    mark_ok(predictions)
write_h5mu_atomic(predictions, snakemake.output[0])
