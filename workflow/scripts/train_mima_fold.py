"""Rule train_mima_fold: MIMA trained on every cell outside one fold."""

import logging
import traceback

import mudata
import pandas as pd

from mima.api import MIMA, write_failure
from mima.evaluate.heldout import fold_masks
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
settings = snakemake.params.settings
mima = settings["mima"]
data = mudata.read_h5mu(snakemake.input.data)
train_mask, _ = fold_masks(pd.read_csv(snakemake.input.folds, sep="\t"), data.obs_names, int(snakemake.wildcards.fold))
train = data[train_mask].copy()
try:
    model = MIMA.setup(train, settings["modalities"], model_params=mima["model"], modality_params=mima["modalities"],
                       seed=mima["train"]["seed"], source=snakemake.input.data)
    train_settings = dict(mima["train"], num_threads=snakemake.threads, progress=False)
    result = model.train(train, train_settings, checkpoint_dir=snakemake.params.checkpoint_dir, source=snakemake.input.data)
except Exception as error:  # failure isolation, as for the full model
    logging.error("MIMA fold training failed:\n%s", traceback.format_exc())
    write_failure(snakemake.output[0], " ".join(f"{type(error).__name__}: {error}".split())[:500])
else:
    print(f"fold {snakemake.wildcards.fold}: {train.n_obs} training cells, {result.epochs_run} epochs")
    model.save(snakemake.output[0])
