"""Rule mima_outputs: denoised, batch-corrected and translated outputs (an
empty file marked failed when training failed)."""

import _workflow_library  # noqa: F401

import mudata

from mima.api import MIMA
from mima.data.atomic_write import write_h5mu_atomic
from mima.status import failed_outputs, mark_ok, read_failure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
failure = read_failure(snakemake.input.model)
if failure is not None:
    outputs = failed_outputs(data, failure)
else:
    outputs = MIMA.load(snakemake.input.model).outputs(data, source=snakemake.input.data)
    mark_ok(outputs)
write_h5mu_atomic(outputs, snakemake.output[0])
