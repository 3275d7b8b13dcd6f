"""Figures drawn on cells (DESIGN §5): UMAPs by batch and label, RGB-UMAP
on tissue, 4CV predictions on tissue, translation and enrichment maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .style import category_colours, legend_outside, legend_width, message_panel, new_figure
from .tissue import draw_categories, draw_rgb, draw_values, on_tissue, tissue_size
from .umap import rgb_from_coordinates


def umap_figure(coordinates: np.ndarray, obs: pd.DataFrame, title: str) -> Figure:
    """One 2-D UMAP coloured by batch and, when annotated, by label.

    Parameters
    ----------
    coordinates
        Cells × 2.
    obs
        The cells' ``batch`` (and ``label``) columns.
    title
        What the UMAP is of (e.g. "RNA input", "MIMA PoE").
    """
    columns = [c for c in ("batch", "label") if c in obs]
    widths = sum(legend_width(obs[c].astype(str).unique()) for c in columns)
    figure, axes = new_figure(1, len(columns), panel=(3.4, 3.4), legend_width=widths)
    for ax, column in zip(axes[0], columns):
        draw_categories(ax, coordinates, obs[column].to_numpy(), title=f"{title}: {column}", legend_title=column)
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
    return figure


def failed_figure(title: str, reason: str) -> Figure:
    """The panel that stands for a figure whose method failed."""
    figure, axes = new_figure(1, 1)
    message_panel(axes[0, 0], f"{title}\nnot available: {reason}")
    return figure


def rgb_tissue_figure(rows: dict[str, np.ndarray], obs: pd.DataFrame, spatial: np.ndarray, samples: list[str],
                      title: str) -> Figure:
    """RGB-UMAP on tissue: one row per embedding (e.g. input, corrected), one
    column per sample; the 3-D UMAP of each row is scaled over all cells.

    Parameters
    ----------
    rows
        ``{row title: cells × 3 UMAP}``.
    obs, spatial
        Cells' ``batch`` and tissue coordinates.
    samples
        The samples drawn (columns).
    """
    figure, axes = new_figure(len(rows), len(samples), panel=(3.0, 3.0))
    batch = obs["batch"].astype(str).to_numpy()
    for i, (row_title, coordinates) in enumerate(rows.items()):
        rgb = rgb_from_coordinates(coordinates)
        for j, sample in enumerate(samples):
            ax, cells = axes[i, j], batch == sample
            draw_rgb(ax, spatial[cells], rgb[cells], title=f"{row_title}\n{sample}", size=tissue_size(spatial[cells]))
            on_tissue(ax, spatial[cells])
    figure.suptitle(title)
    return figure


def poe_predictions_figure(poe_3d: np.ndarray | None, obs: pd.DataFrame, spatial: np.ndarray,
                           predicted: pd.Series | None, samples: list[str], title: str) -> Figure:
    """Per sample (rows): the PoE's RGB-UMAP, the 4CV predicted label and the
    ground truth, on tissue. Cells not classified (excluded classes) are
    grey in the prediction panel."""
    labels = obs["label"].astype(str)
    colours = category_colours(sorted(set(labels) | set(predicted.dropna().astype(str) if predicted is not None else [])))
    figure, axes = new_figure(len(samples), 3, panel=(3.0, 3.0), legend_width=legend_width(colours))
    batch = obs["batch"].astype(str).to_numpy()
    rgb = rgb_from_coordinates(poe_3d) if poe_3d is not None else None
    for i, sample in enumerate(samples):
        cells = batch == sample
        xy, size = spatial[cells], tissue_size(spatial[cells])
        if rgb is None:
            message_panel(axes[i, 0], "MIMA PoE not available")
        else:
            draw_rgb(axes[i, 0], xy, rgb[cells], title=f"PoE RGB-UMAP\n{sample}", size=size)
            on_tissue(axes[i, 0], xy)
        if predicted is None:
            message_panel(axes[i, 1], "no 4CV predictions")
        else:
            shown = predicted.reindex(obs.index[cells]).fillna("unlabelled").astype(str).to_numpy()
            draw_categories(axes[i, 1], xy, shown, colours, title=f"4CV prediction\n{sample}", legend=False, size=size)
            on_tissue(axes[i, 1], xy)
        draw_categories(axes[i, 2], xy, labels.to_numpy()[cells], colours, title=f"ground truth\n{sample}",
                        legend=False, size=size)
        on_tissue(axes[i, 2], xy)
    legend_outside(axes[0, 2], colours, "label")
    figure.suptitle(title)
    return figure


def value_maps_figure(panels: list[list[tuple[str, np.ndarray | None]]], xy_rows: list[np.ndarray],
                      row_titles: list[str], title: str, tissue: bool = True, shared_scale: bool = True) -> Figure:
    """Rows of continuous maps (e.g. a feature's truth and its translations,
    or enrichment scores); within a row all panels share one colour scale
    when ``shared_scale``.

    Parameters
    ----------
    panels
        Per row, ``(panel title, values or None)``; None draws "not available".
    xy_rows
        Per row, the cells' coordinates.
    row_titles
        Per row, a prefix of its panels' titles.
    """
    n_cols = max(len(row) for row in panels)
    figure, axes = new_figure(len(panels), n_cols, panel=(3.2, 3.0))
    for i, (row, xy) in enumerate(zip(panels, xy_rows)):
        present = [v for _, v in row if v is not None]
        finite = np.concatenate([v[np.isfinite(v)] for v in present]) if present else np.array([])
        limits = tuple(np.percentile(finite, [1, 99])) if (shared_scale and finite.size) else None
        for j in range(n_cols):
            ax = axes[i, j]
            if j >= len(row):
                ax.set_axis_off()
                continue
            panel_title, values = row[j]
            if values is None:
                message_panel(ax, f"{panel_title}: not available")
                continue
            size = tissue_size(xy) if tissue else None
            heading = f"{row_titles[i]}\n{panel_title}" if j == 0 else f"\n{panel_title}"
            draw_values(ax, xy, values, title=heading, limits=limits, size=size)
            if tissue:
                on_tissue(ax, xy)
    figure.suptitle(title)
    return figure
