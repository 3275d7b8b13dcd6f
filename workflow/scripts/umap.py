"""Rule umap: every UMAP the figures of one dataset draw, in one file."""

import _workflow_library  # noqa: F401

import anndata as ad
import mudata

from mima.data.atomic_write import write_h5ad_atomic
from mima.plot.umap import compute_views, view_matrices
from mima.status import is_ok, reason
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
outputs = mudata.read_h5mu(snakemake.input.outputs)
mima = ad.read_h5ad(snakemake.input.mima)
unavailable = {}
if not is_ok(outputs):
    unavailable.update({f"corrected_{m}": f"MIMA failed: {reason(outputs)}" for m in data.mod})
if not is_ok(mima):
    unavailable["poe"] = f"MIMA failed: {reason(mima)}"
views = view_matrices(data, outputs, mima)
settings = snakemake.params.settings
umap_settings = settings["figures"].get("umap", {})
obs = data.obs[[c for c in ("batch", "label") if c in data.obs]]
result = compute_views(views, obs, three_d=snakemake.params.three_d, seed=settings["seed"], **umap_settings)
if "spatial" in data.obsm:
    result.obsm["spatial"] = data.obsm["spatial"]
result.uns["unavailable"] = unavailable
write_h5ad_atomic(result, snakemake.output[0])
