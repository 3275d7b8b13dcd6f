"""Rule mima_outputs: denoised, batch-corrected and translated outputs (an
empty file marked failed when training failed)."""

import mudata

from mima.api import MIMA, read_failure
from mima.data.io import write_h5mu_atomic
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
failure = read_failure(snakemake.input.model)
if failure is not None:
    outputs = mudata.MuData({m: data.mod[m][:, :0].copy() for m in data.mod})
    outputs.uns["status"], outputs.uns["reason"] = "failed", failure
else:
    outputs = MIMA.load(snakemake.input.model).outputs(data, source=snakemake.input.data)
    outputs.uns["status"] = "ok"
write_h5mu_atomic(outputs, snakemake.output[0])
