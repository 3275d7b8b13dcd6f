"""Rule download_file: one file from the data mirror or its URL, verified."""

import _workflow_library  # noqa: F401

from mima.data.download import fetch_from_mirror_or_url
from mima.utils import log_to

log_to(snakemake.log[0])
spec = snakemake.params.spec
fetch_from_mirror_or_url(spec.get("mirror", ""), snakemake.params.mirror, spec["url"], snakemake.output[0],
                         md5=spec.get("md5"), sha256=spec.get("sha256"))
