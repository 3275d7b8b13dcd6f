"""Drawing values on cells: scatter panels in UMAP space or on tissue
coordinates, coloured by category, by a continuous value or by RGB."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import MISSING_COLOUR, MISSING_LABELS, category_colours, legend_outside, point_size


def draw_categories(ax, xy: np.ndarray, values, colours: dict | None = None, title: str = "",
                    legend_title: str | None = None, legend: bool = True, size: float | None = None) -> dict:
    """Cells at ``xy`` coloured by category; missing annotations drawn first
    in grey so they never hide annotated cells.

    Returns
    -------
    dict
        The category → colour mapping used (to share one legend).
    """
    values = pd.Series(np.asarray(values, dtype=object)).astype(str).to_numpy()
    colours = colours or category_colours(sorted(set(values)))
    missing = np.isin(values, list(MISSING_LABELS))
    order = np.concatenate([np.flatnonzero(missing), np.flatnonzero(~missing)])
    ax.scatter(xy[order, 0], xy[order, 1], c=[colours.get(v, MISSING_COLOUR) for v in values[order]],
               s=size or point_size(len(values)), linewidths=0, rasterized=True)
    _frame(ax, title)
    if legend:
        legend_outside(ax, {k: v for k, v in colours.items() if k in set(values)}, legend_title)
    return colours


def draw_values(ax, xy: np.ndarray, values, title: str = "", cmap: str = "viridis", size: float | None = None,
                limits: tuple[float, float] | None = None, colorbar: bool = True):
    """Cells at ``xy`` coloured by a continuous value (robust 1–99 % limits
    unless ``limits`` is given, so one outlier does not flatten the map)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if limits is None:
        limits = tuple(np.percentile(finite, [1, 99])) if finite.size else (0.0, 1.0)
    mappable = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap=cmap, vmin=limits[0], vmax=limits[1],
                          s=size or point_size(len(values)), linewidths=0, rasterized=True)
    _frame(ax, title)
    if colorbar:
        ax.figure.colorbar(mappable, ax=ax, shrink=0.7)
    return mappable


def draw_rgb(ax, xy: np.ndarray, rgb: np.ndarray, title: str = "", size: float | None = None) -> None:
    """Cells at ``xy`` in the colours of :func:`mima.plot.umap.rgb_from_coordinates`."""
    ax.scatter(xy[:, 0], xy[:, 1], c=np.clip(rgb, 0, 1), s=size or point_size(len(rgb)), linewidths=0,
               rasterized=True)
    _frame(ax, title)


def tissue_size(xy: np.ndarray) -> float:
    """Marker area for one tissue section: spots just touch on a regular grid."""
    n = len(xy)
    return float(np.clip(9000.0 / max(n, 1), 2.0, 120.0))


def on_tissue(ax, xy: np.ndarray) -> None:
    """Tissue orientation: image coordinates (y down), equal aspect."""
    ax.set_aspect("equal")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()


def _frame(ax, title: str) -> None:
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
