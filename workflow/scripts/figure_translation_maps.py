"""Rule figure_translation_maps: chosen features on tissue, true input
against their held-out 4CV translations from each other modality."""

import _workflow_library  # noqa: F401

import mudata
import pandas as pd

from mima.plot.embedding_figures import failed_figure, value_maps_figure
from mima.plot.maps import choose_features, heldout_translations
from mima.plot.style import save_figure
from mima.plot.tissue import choose_samples
from mima.status import is_ok, reason
from mima.utils import dense, log_to

log_to(snakemake.log[0])
mudata.set_options(pull_on_update=False)
data = mudata.read_h5mu(snakemake.input.data)
dataset = snakemake.wildcards.dataset
# params.folds: the fold of each held-out file, in the order of input.heldout
heldout = {fold: mudata.read_h5mu(p) for fold, p in zip(snakemake.params.folds, snakemake.input.heldout, strict=True)}
title = f"{dataset}: held-out translations on tissue (4CV)"
failed = [reason(h) for h in heldout.values() if not is_ok(h)]
if failed:
    figure = failed_figure(title, f"MIMA failed in a fold: {failed[0]}")
else:
    figures = snakemake.params.settings["figures"]
    batch = data.obs["batch"].astype(str)
    sample = choose_samples(batch, figures.get("samples"))[0]
    translations = {m: heldout_translations(heldout, m) for m in data.mod}
    translations = {m: t for m, t in translations.items() if t}
    r2 = pd.read_csv(snakemake.input.r2, sep="\t", keep_default_na=False, na_values=[""])
    features = choose_features(figures.get("features", []), translations, r2, sample, batch.unique())
    panels, xy_rows, row_titles = [], [], []
    for entry in features:
        modality, feature = entry["modality"], entry["feature"]
        cells = data.obs_names[(batch == entry["sample"]).to_numpy()]
        adata = data.mod[modality]
        truth = adata[cells, feature].X
        truth = dense(truth, dtype=None).ravel()
        row = [("input", truth)]
        for source, values in translations[modality].items():
            row.append((f"from {source}", values[feature].reindex(cells).to_numpy()))
        panels.append(row)
        xy_rows.append(data.obsm["spatial"][data.obs_names.get_indexer(cells)])
        row_titles.append(f"{modality} {feature} ({entry['sample']})")
    figure = value_maps_figure(panels, xy_rows, row_titles, title)
save_figure(figure, snakemake.output.png, snakemake.output.pdf)
