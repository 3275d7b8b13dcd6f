"""Rule download_zenodo: the record's file list (record.json), then the
configured files, from data_mirror's zenodo/<record>/ folder or Zenodo,
verified against the record's md5s."""

import _workflow_library  # noqa: F401

from mima.data.zenodo import zenodo_download
from mima.utils import log_to

log_to(snakemake.log[0])
zenodo_download(snakemake.params.record, snakemake.params.files, snakemake.output.folder,
                snakemake.output.record, dataset=snakemake.wildcards.dataset, mirror=snakemake.params.mirror,
                md5s=snakemake.params.md5 or None, timeout=300)
