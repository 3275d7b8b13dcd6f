"""Rule classification_tables: every input's rows, split by scheme."""

import _workflow_library  # noqa: F401

import pandas as pd

from mima.utils import log_to

log_to(snakemake.log[0])
rows = pd.concat([pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""], dtype={"fold": str})
                  for p in snakemake.input], ignore_index=True)
rows[rows["scheme"] == "loocv"].to_csv(snakemake.output.loocv, sep="\t", index=False)
rows[rows["scheme"] == "4cv"].to_csv(snakemake.output.cv, sep="\t", index=False)
