"""Rule raw_dataset: simulate or read one dataset into raw.h5mu."""

import _workflow_library  # noqa: F401

import mudata

from mima.data.assemble import assemble_raw
from mima.data.atomic_write import write_h5mu_atomic
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
raw = assemble_raw(snakemake.params.settings, dict(snakemake.input.items()))
write_h5mu_atomic(raw, snakemake.output[0])
print(f"{raw.n_obs} cells; modalities {dict((m, a.n_vars) for m, a in raw.mod.items())}")
