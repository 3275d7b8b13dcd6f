"""Rule embed_mima: posterior-mean embeddings of the trained MIMA (or its
failure record)."""

import _workflow_library  # noqa: F401

import time

import mudata

import mima
from mima.api import MIMA
from mima.embeddings import write_embeddings
from mima.status import FAILED, read_failure
from mima.utils import log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
started = time.time()
data = mudata.read_h5mu(snakemake.input.data)
method = {"name": "mima", "version": mima.__version__, "seed": snakemake.params.seed}
failure = read_failure(snakemake.input.model)
if failure is not None:
    write_embeddings(snakemake.output[0], data.obs, {}, dict(method, runtime_s=0.0), status=FAILED, reason=failure)
else:
    model = MIMA.load(snakemake.input.model)
    embeddings = model.get_latent(data, source=snakemake.input.data)
    method.update(parameters=model.settings()["model"], runtime_s=time.time() - started)
    write_embeddings(snakemake.output[0], data.obs, embeddings, method)
