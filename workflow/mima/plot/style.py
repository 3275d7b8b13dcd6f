"""One look for every figure: sizes, fonts, category colours, legends and
atomic saving as PNG + PDF.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot
state), so drawing never depends on a display or on a global backend.
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
#: colour of cells without an annotation (drawn below the others)
MISSING_COLOUR = "#d0d0d0"
#: labels drawn in :data:`MISSING_COLOUR`
MISSING_LABELS = frozenset({"unlabelled", "other", "nan", ""})
LEGEND_ROWS = 18


def new_figure(n_rows: int = 1, n_cols: int = 1, panel: tuple[float, float] = (3.6, 3.2),
               legend_width: float = 0.0) -> tuple[Figure, np.ndarray]:
    """A figure with a grid of panels of ``panel`` inches each, plus room on
    the right for legends (``legend_width`` inches).

    Returns
    -------
    The figure and a 2-D array of axes (``n_rows × n_cols``).
    """
    import matplotlib

    with matplotlib.rc_context(RC):
        width = panel[0] * n_cols + legend_width
        figure = Figure(figsize=(width, panel[1] * n_rows), layout="constrained")
        axes = figure.subplots(n_rows, n_cols, squeeze=False)
    return figure, axes


def category_colours(categories) -> dict:
    """Distinguishable colours for any number of categories.

    Up to 10: matplotlib's tab10; up to 20: tab20; up to 60: tab20 + tab20b +
    tab20c; beyond: evenly spaced hues at three lightness levels. Missing
    annotations (``unlabelled``, ``other``) are light grey.
    """
    import matplotlib

    names = [c for c in dict.fromkeys(categories) if str(c) not in MISSING_LABELS]
    n = len(names)
    if n <= 10:
        palette = list(matplotlib.colormaps["tab10"].colors)
    elif n <= 20:
        palette = list(matplotlib.colormaps["tab20"].colors)
    elif n <= 60:
        palette = [c for name in ("tab20", "tab20b", "tab20c") for c in matplotlib.colormaps[name].colors]
    else:
        palette = [colorsys.hls_to_rgb((i * 0.618034) % 1.0, (0.35, 0.55, 0.75)[i % 3], 0.75) for i in range(n)]
    colours = {name: palette[i] for i, name in enumerate(names)}
    colours.update({c: MISSING_COLOUR for c in dict.fromkeys(categories) if str(c) in MISSING_LABELS})
    return colours


def legend_outside(ax, colours: dict, title: str | None = None) -> None:
    """A legend of coloured dots to the right of ``ax``, in as many columns as
    needed to keep each at most :data:`LEGEND_ROWS` entries."""
    handles = [Line2D([], [], marker="o", linestyle="", markersize=5, color=colour, label=str(name))
               for name, colour in colours.items()]
    n_cols = max(1, int(np.ceil(len(handles) / LEGEND_ROWS)))
    ax.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
              ncols=n_cols, handletextpad=0.2, columnspacing=0.8, borderaxespad=0.0, fontsize=7, title_fontsize=8,
              labelspacing=0.3)


def legend_width(labels) -> float:
    """Inches a :func:`legend_outside` of these labels takes beside a panel."""
    labels = [str(label) for label in labels]
    if not labels:
        return 0.0
    n_cols = int(np.ceil(len(labels) / LEGEND_ROWS))
    return n_cols * (0.45 + 0.06 * max(map(len, labels)))


def point_size(n_points: int) -> float:
    """Marker area that keeps 100 to 100,000 points readable."""
    return float(np.clip(3000.0 / max(n_points, 1), 0.5, 30.0))


def note_below(figure: Figure, text: str) -> None:
    """Small text under the panels (e.g. the methods that failed)."""
    figure.supxlabel(text, fontsize=8, color="#8b0000", wrap=True)


def save_figure(figure: Figure, png: str, pdf: str | None = None, dpi: int = 150) -> None:
    """Write ``figure`` as PNG (and PDF) atomically: each file is written
    under a temporary name in its folder and renamed, so a killed job never
    leaves a half-written image under the final name."""
    for path, kwargs in ((png, {"dpi": dpi}), (pdf, {})):
        if path is None:
            continue
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        temporary = f"{path}.part{os.getpid()}{Path(path).suffix}"
        try:
            figure.savefig(temporary, **kwargs)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def message_panel(ax, text: str) -> None:
    """Replace a panel's content by a message (a failed method, no data)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=9, color="#8b0000", transform=ax.transAxes)
