"""Rule download_zenodo: the record's files, verified against its md5s."""

import _workflow_library  # noqa: F401

from mima.data.zenodo import zenodo_download
from mima.utils import log_to

log_to(snakemake.log[0])
files = snakemake.params.files
zenodo_download(snakemake.params.record, sorted(set(files.values())), snakemake.output[0],
                md5s=snakemake.params.md5 or None)
