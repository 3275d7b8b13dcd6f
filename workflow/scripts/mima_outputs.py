"""Rule mima_outputs: denoised, batch-corrected and translated outputs,
computed and written a block of cells at a time (:mod:`mima.outputs`); an
empty file marked failed when training failed."""

import _workflow_library  # noqa: F401

import mudata
import torch

from mima.api import MIMA
from mima.data.atomic_write import write_h5mu_atomic
from mima.outputs import failed_outputs_from_file
from mima.status import read_failure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
torch.set_num_threads(snakemake.threads)
failure = read_failure(snakemake.input.model)
if failure is not None:
    write_h5mu_atomic(failed_outputs_from_file(snakemake.input.data, failure), snakemake.output[0])
else:
    MIMA.load(snakemake.input.model).write_outputs(snakemake.input.data, snakemake.output[0])
