"""Rule train_mima: train MIMA on every cell of the prepared dataset.

A failed training writes a failure record instead of the model, so the
other methods' results and the tables are still built (DESIGN §2).
"""

import logging
import traceback

import mudata

from mima.api import MIMA, write_failure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
settings = snakemake.params.settings
mima = settings["mima"]
data = mudata.read_h5mu(snakemake.input[0])
try:
    model = MIMA.setup(data, settings["modalities"], model_params=mima["model"], modality_params=mima["modalities"],
                       seed=mima["train"]["seed"], source=snakemake.input[0])
    train = dict(mima["train"], num_threads=snakemake.threads, progress=False)
    result = model.train(data, train, checkpoint_dir=snakemake.params.checkpoint_dir, source=snakemake.input[0])
except Exception as error:  # failure isolation; the traceback stays in the log
    logging.error("MIMA training failed:\n%s", traceback.format_exc())
    write_failure(snakemake.output[0], " ".join(f"{type(error).__name__}: {error}".split())[:500])
else:
    print(f"{result.epochs_run} epochs (planned {result.epochs_planned}, resumed from {result.resumed_from_epoch})")
    model.save(snakemake.output[0])
