"""Rule prepare: raw.h5mu -> prepared.h5mu (model inputs, HVF masks)."""

import _workflow_library  # noqa: F401

import mudata

from mima.data.atomic_write import write_h5mu_atomic
from mima.preprocess.prepare import prepare_dataset
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
raw = mudata.read_h5mu(snakemake.input[0])
prepared = prepare_dataset(raw, snakemake.params.settings, source=snakemake.input[0])
write_h5mu_atomic(prepared, snakemake.output[0])
print(prepared)
