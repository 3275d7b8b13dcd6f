"""Rule predict_mima_fold: translations and reconstructions of one fold's
held-out cells, on the evaluation features."""

import mudata
import pandas as pd

from mima.api import MIMA
from mima.data.io import write_h5mu_atomic
from mima.evaluate.heldout import fold_masks, heldout_predictions
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
_, heldout_mask = fold_masks(pd.read_csv(snakemake.input.folds, sep="\t"), data.obs_names, int(snakemake.wildcards.fold))
model = MIMA.load(snakemake.input.model)
write_h5mu_atomic(heldout_predictions(model, data[heldout_mask].copy()), snakemake.output[0])
