"""Rule train_mima_fold: MIMA trained on every cell outside one fold (or
the record of why it failed)."""

import _workflow_library  # noqa: F401

import mudata

from mima.api import train_or_record_failure
from mima.data.folds import fold_masks, read_folds
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
settings = snakemake.params.settings
data = mudata.read_h5mu(snakemake.input.data)
train_mask, _ = fold_masks(read_folds(snakemake.input.folds), data.obs_names, int(snakemake.wildcards.fold))
train = data[train_mask].copy()
result = train_or_record_failure(train, settings["modalities"], settings["mima"], snakemake.output[0],
                                 threads=snakemake.threads, checkpoint_dir=snakemake.params.checkpoint_dir,
                                 source=snakemake.input.data)
if result is not None:
    print(f"fold {snakemake.wildcards.fold}: {train.n_obs} training cells, {result.epochs_run} epochs")
