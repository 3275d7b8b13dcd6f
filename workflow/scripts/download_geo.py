"""Rule download_geo: a GEO processed h5ad.gz; its sha256 is recorded in the
lock file at the first download and verified at every later one."""

import _workflow_library  # noqa: F401

from mima.data.download import download
from mima.utils import log_to

log_to(snakemake.log[0])
download(snakemake.params.url, snakemake.output[0], lock_file=snakemake.params.lock, timeout=300)
