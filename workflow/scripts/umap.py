"""Rule umap: every UMAP the figures of one dataset draw, in one file."""

import _workflow_library  # noqa: F401

import anndata as ad
import mudata

from mima.data.atomic_write import write_h5ad_atomic
from mima.data.h5mu_rows import H5muRows
from mima.plot.umap import compute_views, view_matrices
from mima.status import OK, is_ok, reason
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
with H5muRows(snakemake.input.outputs) as outputs:  # the layers stay on disk
    outputs_status = {"status": outputs.uns.get("status", OK), "reason": outputs.uns.get("reason", "")}
mima = ad.read_h5ad(snakemake.input.mima)
unavailable = {}
if str(outputs_status["status"]) != OK:
    unavailable.update({f"corrected_{m}": f"MIMA failed: {outputs_status['reason']}" for m in data.mod})
if not is_ok(mima):
    unavailable["poe"] = f"MIMA failed: {reason(mima)}"
views = view_matrices(data, snakemake.input.outputs if str(outputs_status["status"]) == OK else None, mima)
settings = snakemake.params.settings
umap_settings = settings["figures"].get("umap", {})
obs = data.obs[[c for c in ("batch", "label") if c in data.obs]]
result = compute_views(views, obs, three_d=snakemake.params.three_d, seed=settings["seed"], **umap_settings)
if "spatial" in data.obsm:
    result.obsm["spatial"] = data.obsm["spatial"]
result.uns["unavailable"] = unavailable
write_h5ad_atomic(result, snakemake.output[0])
