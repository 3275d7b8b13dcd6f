"""Rule train_mima: train MIMA on every cell of the prepared dataset (or
record why it failed)."""

import _workflow_library  # noqa: F401

import mudata

from mima.api import train_or_record_failure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
settings = snakemake.params.settings
data = mudata.read_h5mu(snakemake.input[0])
result = train_or_record_failure(data, settings["modalities"], settings["mima"], snakemake.output[0],
                                 threads=snakemake.threads, checkpoint_dir=snakemake.params.checkpoint_dir,
                                 source=snakemake.input[0])
if result is not None:
    print(f"{result.epochs_run} epochs (planned {result.epochs_planned}, resumed from {result.resumed_from_epoch})")
