"""Rule mima_outputs: denoised, batch-corrected and translated outputs."""

import mudata

from mima.api import MIMA
from mima.data.io import write_h5mu_atomic
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
model = MIMA.load(snakemake.input.model)
write_h5mu_atomic(model.outputs(data, source=snakemake.input.data), snakemake.output[0])
