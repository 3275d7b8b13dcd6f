"""Rule download_geo: a GEO processed h5ad.gz, copied from data_mirror's
geo/ folder when it is there, else downloaded; its sha256 is recorded in the
lock file at the first download and verified at every later one."""

import _workflow_library  # noqa: F401

from mima.data.geo import fetch_geo
from mima.utils import log_to

log_to(snakemake.log[0])
fetch_geo(snakemake.params.url, snakemake.output[0], snakemake.params.lock, mirror=snakemake.params.mirror,
          dataset=snakemake.wildcards.dataset, timeout=300)
