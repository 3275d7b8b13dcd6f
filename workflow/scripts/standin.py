"""Rules standin_geo / standin_zenodo: one study dataset's stand-in, in its
published layout, written into the rehearsal's mirror folder."""

import _workflow_library  # noqa: F401

from mima.data.simulate.standins import write_standins
from mima.utils import log_to

log_to(snakemake.log[0])
settings = snakemake.params.settings
write_standins(snakemake.params.mirror, datasets=[settings["of"]], scale=settings["scale"],
               feature_scale=settings["feature_scale"], seed=settings["seed"])
