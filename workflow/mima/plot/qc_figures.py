"""Supplementary panels (DESIGN §5): per-modality sparsity / dropout, the
highly variable feature selection, and annotation counts per sample."""

from __future__ import annotations

import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp
from matplotlib.figure import Figure

from .style import category_colours, legend_outside, legend_width, message_panel, new_figure


def _raw_matrix(adata):
    """Counts where they exist (dropout is a property of the counts), else X."""
    return adata.layers["counts"] if "counts" in adata.layers else adata.X


def detection(matrix) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of non-zero entries per cell and per feature."""
    if sp.issparse(matrix):
        nonzero = sp.csr_matrix(matrix, copy=True)
        nonzero.eliminate_zeros()
        per_cell = np.diff(nonzero.indptr) / matrix.shape[1]
        per_feature = np.bincount(nonzero.indices, minlength=matrix.shape[1]) / matrix.shape[0]
        return per_cell, per_feature
    nonzero = np.asarray(matrix) != 0
    return nonzero.mean(axis=1), nonzero.mean(axis=0)


def sparsity_figure(data: md.MuData, title: str) -> Figure:
    """Per modality: histograms of the fraction of features detected per cell
    and of cells detecting each feature (dropout = 1 − detection)."""
    figure, axes = new_figure(2, len(data.mod), panel=(3.0, 2.6))
    for j, (name, adata) in enumerate(data.mod.items()):
        per_cell, per_feature = detection(_raw_matrix(adata))
        sparsity = 1.0 - per_cell.mean() if per_cell.size else float("nan")
        axes[0, j].hist(per_cell, bins=40, color="#4c72b0")
        axes[0, j].set_title(f"{name}: {sparsity:.1%} zeros")
        axes[0, j].set_xlabel("features detected per cell (fraction)")
        axes[1, j].hist(per_feature, bins=40, color="#dd8452")
        axes[1, j].set_xlabel("cells detecting a feature (fraction)")
        axes[0, j].set_ylabel("cells")
        axes[1, j].set_ylabel("features")
    figure.suptitle(title)
    return figure


def hvf_figure(data: md.MuData, title: str) -> Figure:
    """Per modality with an HVF selection: mean against variance of every
    feature (of ``X``), the selected evaluation features highlighted."""
    modalities = [m for m, a in data.mod.items() if "hvf" in a.var and not a.var["hvf"].all()]
    figure, axes = new_figure(1, max(len(modalities), 1), panel=(3.4, 3.2), legend_width=legend_width(["not selected"]))
    if not modalities:
        message_panel(axes[0, 0], "no HVF selection (every feature is evaluated)")
    for ax, name in zip(axes[0], modalities):
        adata = data.mod[name]
        X = adata.X
        mean = np.asarray(X.mean(axis=0)).ravel()
        square = np.asarray(X.multiply(X).mean(axis=0)).ravel() if sp.issparse(X) else (np.asarray(X) ** 2).mean(axis=0)
        variance = square - mean**2
        selected = adata.var["hvf"].to_numpy(dtype=bool)
        ax.scatter(mean[~selected], variance[~selected], s=3, color="#bbbbbb", linewidths=0, rasterized=True)
        ax.scatter(mean[selected], variance[selected], s=3, color="#c44e52", linewidths=0, rasterized=True)
        ax.set_xlabel("mean")
        ax.set_ylabel("variance")
        ax.set_title(f"{name}: {selected.sum()} of {selected.size} selected")
    if modalities:
        legend_outside(axes[0, -1], {"selected": "#c44e52", "not selected": "#bbbbbb"})
    figure.suptitle(title)
    return figure


def annotation_counts_figure(obs: pd.DataFrame, title: str) -> Figure:
    """Stacked bars: cells of each annotation per sample."""
    labels = obs["label"].astype(str).unique() if "label" in obs else []
    figure, axes = new_figure(1, 1, panel=(max(4.0, 0.35 * obs["batch"].nunique() + 2), 3.6),
                              legend_width=legend_width(labels))
    ax = axes[0, 0]
    if "label" not in obs:
        message_panel(ax, "no annotation")
        return figure
    counts = pd.crosstab(obs["batch"].astype(str), obs["label"].astype(str))
    colours = category_colours(list(counts.columns))
    bottom = np.zeros(len(counts))
    for label in counts.columns:
        ax.bar(np.arange(len(counts)), counts[label], bottom=bottom, color=colours[label], width=0.8)
        bottom += counts[label].to_numpy()
    ax.set_xticks(np.arange(len(counts)), counts.index, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("cells")
    ax.set_title(title)
    legend_outside(ax, colours, "label")
    return figure
