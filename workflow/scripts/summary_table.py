"""Rule summary_table: one table gathered over the datasets of a target."""

import _workflow_library  # noqa: F401

import pandas as pd

from mima.utils import log_to

log_to(snakemake.log[0])
frames = [pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""]) for path in snakemake.input]
table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
table.to_csv(snakemake.output[0], sep="\t", index=False)
print(f"{len(table)} rows from {len(frames)} datasets")
