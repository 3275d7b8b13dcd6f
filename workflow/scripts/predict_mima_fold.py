"""Rule predict_mima_fold: translations and reconstructions of one fold's
held-out cells, on the evaluation features."""

import mudata
import pandas as pd

from mima.api import MIMA, read_failure
from mima.data.io import write_h5mu_atomic
from mima.evaluate.heldout import fold_masks, heldout_predictions
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
_, heldout_mask = fold_masks(pd.read_csv(snakemake.input.folds, sep="\t"), data.obs_names, int(snakemake.wildcards.fold))
failure = read_failure(snakemake.input.model)
if failure is not None:
    predictions = mudata.MuData({m: data.mod[m][heldout_mask, :0].copy() for m in data.mod})
    predictions.uns["status"], predictions.uns["reason"] = "failed", failure
else:
    predictions = heldout_predictions(MIMA.load(snakemake.input.model), data[heldout_mask].copy())
    predictions.uns["status"] = "ok"
write_h5mu_atomic(predictions, snakemake.output[0])
