"""Rule download_file: one file from the data mirror or its URL, verified:
against its configured md5 / sha256, or else against the sha256 recorded
in the dataset's lock file by its first download."""

import _workflow_library  # noqa: F401

from mima.data.download import fetch_from_mirror_or_url
from mima.utils import log_to

log_to(snakemake.log[0])
spec = snakemake.params.spec
checksum_known = bool(spec.get("md5") or spec.get("sha256"))
fetch_from_mirror_or_url(spec.get("mirror", ""), snakemake.params.mirror, spec["url"], snakemake.output[0],
                         md5=spec.get("md5"), sha256=spec.get("sha256"),
                         lock_file=None if checksum_known else snakemake.params.lock, lock_key=spec["url"])
