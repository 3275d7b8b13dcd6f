"""Rule translation_map_values: what the translation maps draw -- each
chosen feature's true values on its sample and its held-out 4CV
translations, recomputed from the fold models (held-out predictions are
never stored)."""

import _workflow_library  # noqa: F401

import pandas as pd
import torch

from mima.api import MIMA
from mima.data.folds import cell_folds, read_folds
from mima.data.h5mu_rows import H5muRows
from mima.evaluate.heldout import MAP_VALUE_COLUMNS, translation_map_values
from mima.figure_choices import choose_features, choose_samples
from mima.status import STATUS_COLUMNS, read_failure, row_status
from mima.utils import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# params.folds: the fold of each model, in the order of input.models
model_paths = dict(zip(snakemake.params.folds, snakemake.input.models, strict=True))
failed = {fold: why for fold, path in model_paths.items() if (why := read_failure(path)) is not None}
if failed:  # the figure says so instead of drawing part of the folds
    fold, why = sorted(failed.items())[0]
    table = pd.DataFrame([dict.fromkeys(MAP_VALUE_COLUMNS, ""), ]).assign(value=float("nan"),
                                                                         **row_status(f"fold {fold}: {why}"))
else:
    figures = snakemake.params.settings["figures"]
    with H5muRows(snakemake.input.data) as reader:
        batch = reader.obs["batch"].astype(str)
        fold_of = cell_folds(read_folds(snakemake.input.folds), reader.obs_names)
        evaluation_features = {m: list(reader.var(m).index[reader.var(m)["hvf"].to_numpy(dtype=bool)])
                               for m in reader.mod} if len(reader.mod) > 1 else {}
    sample = choose_samples(batch, figures.get("samples"))[0]
    r2 = pd.read_csv(snakemake.input.r2, sep="\t", keep_default_na=False, na_values=[""])
    entries = choose_features(figures.get("features", []), evaluation_features, r2, sample, batch.unique())
    models = {fold: MIMA.load(path) for fold, path in model_paths.items()}
    table = translation_map_values(models, snakemake.input.data, fold_of, entries).assign(**row_status())
table[MAP_VALUE_COLUMNS + STATUS_COLUMNS].to_csv(snakemake.output[0], sep="\t", index=False)
