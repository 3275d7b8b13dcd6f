"""Figures of the evaluation tables (DESIGN §5): the scIB bio-vs-batch
scatter, classification bars, translation MSE boxes and r² distributions.
Each takes the long table(s) of :mod:`mima.evaluate` as written to
``results/{dataset}/tables/``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..status import failed_rows, ok_rows
from .style import category_colours, legend_outside, legend_width, message_panel, new_figure, note_below

CLASSIFICATION_METRICS = ["accuracy", "precision", "recall", "f1"]
MSE_KINDS = ["translation", "reconstruction", "same_centroid", "different_centroid", "knn_baseline"]


def failed_methods(table: pd.DataFrame) -> dict[str, str]:
    """``{method[/embedding]: reason}`` of the table's failure rows."""
    failed = failed_rows(table)
    names = failed["method"].astype(str) + failed["embedding"].fillna("").astype(str).map(lambda e: f"/{e}" if e else "")
    return dict(zip(names, failed["reason"].fillna("").astype(str)))


def _failure_note(figure: Figure, failed: dict[str, str]) -> None:
    if failed:
        note_below(figure, "failed: " + "; ".join(f"{name} ({reason[:80]})" for name, reason in sorted(failed.items())))


def scib_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Bio-conservation and batch-correction scores per (method, embedding)."""
    ok = table[ok_rows(table) & table["metric"].isin(["bio_conservation", "batch_correction"])]
    scores = ok.pivot_table(index=["method", "embedding"], columns="metric", values="value", aggfunc="first")
    return scores.dropna().reset_index()


def scib_scatter_figure(table: pd.DataFrame, title: str) -> Figure:
    """Bio conservation (y) against batch correction (x), one labelled point
    per (method, embedding), dashed lines at the averages over all points;
    failed methods are listed under the plot."""
    scores = scib_scores(table)
    figure, axes = new_figure(1, 1, panel=(5.0, 4.5), legend_width=legend_width(scores["method"].unique()))
    ax = axes[0, 0]
    if scores.empty:
        message_panel(ax, "no scIB scores")
    else:
        colours = category_colours(sorted(scores["method"].unique()))
        for row in scores.itertuples():
            ax.scatter(row.batch_correction, row.bio_conservation, color=colours[row.method], s=30, zorder=3)
            ax.annotate(row.embedding, (row.batch_correction, row.bio_conservation), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        ax.axvline(scores["batch_correction"].mean(), linestyle="--", color="grey", linewidth=0.8)
        ax.axhline(scores["bio_conservation"].mean(), linestyle="--", color="grey", linewidth=0.8)
        ax.set_xlabel("batch correction (scaled)")
        ax.set_ylabel("bio conservation (scaled)")
        legend_outside(ax, colours, "method")
    ax.set_title(title)
    _failure_note(figure, failed_methods(table))
    return figure


def classification_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds of the per-fold class means,
    per input and metric (columns ``input, metric, mean, std, n_folds``)."""
    rows = table[ok_rows(table) & (table["class"].astype(str) == "mean")
                 & (table["fold"].astype(str) != "mean")].copy()
    rows = rows.dropna(subset=["value"])
    rows["input"] = rows["method"].astype(str) + ":" + rows["embedding"].astype(str)
    grouped = rows.groupby(["input", "metric"], sort=False)["value"]
    summary = grouped.agg(mean="mean", std="std", n_folds="count").reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    return summary


def classification_bars_figure(table: pd.DataFrame, scheme: str, title: str) -> Figure:
    """Accuracy, precision, recall and F1 per input (bars) with error bars
    over folds (standard deviation)."""
    summary = classification_summary(table)
    figure, axes = new_figure(1, 1, panel=(5.5, 3.6), legend_width=legend_width(summary.get("input", [])))
    ax = axes[0, 0]
    if summary.empty:
        message_panel(ax, f"no {scheme} results")
    else:
        inputs = list(dict.fromkeys(summary["input"]))
        colours = category_colours(inputs)
        metrics = [m for m in CLASSIFICATION_METRICS if m in set(summary["metric"])]
        width = 0.8 / len(inputs)
        for i, name in enumerate(inputs):
            part = summary[summary["input"] == name].set_index("metric").reindex(metrics)
            x = np.arange(len(metrics)) + (i - (len(inputs) - 1) / 2) * width
            ax.bar(x, part["mean"], width, yerr=part["std"], color=colours[name], capsize=2, label=name,
                   error_kw={"linewidth": 0.8})
        ax.set_xticks(np.arange(len(metrics)), metrics)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"{scheme} score (mean over folds)")
        legend_outside(ax, colours, "input")
    ax.set_title(title)
    _failure_note(figure, failed_methods(table))
    return figure


def translation_mse_figure(per_cell: pd.DataFrame, title: str) -> Figure:
    """Boxes of the held-out cells' MSE per translation direction: MIMA's
    translation and reconstruction, the two annotation centroids and the
    kNN baseline."""
    directions = list(dict.fromkeys(zip(per_cell["source"], per_cell["target"]))) if not per_cell.empty else []
    figure, axes = new_figure(1, max(len(directions), 1), panel=(3.4, 3.4))
    if not directions:
        message_panel(axes[0, 0], "no held-out translations (MIMA failed?)")
    for ax, (source, target) in zip(axes[0], directions):
        part = per_cell[(per_cell["source"] == source) & (per_cell["target"] == target)]
        kinds = [k for k in MSE_KINDS if k in part and part[k].notna().any()]
        ax.boxplot([part[k].dropna() for k in kinds], showfliers=False)
        ax.set_xticks(np.arange(1, len(kinds) + 1), [k.replace("_", " ") for k in kinds], fontsize=7, rotation=35,
                      ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("MSE per held-out cell")
        ax.set_title(f"{source} → {target}")
    figure.suptitle(title)
    return figure


def translation_r2_figure(table: pd.DataFrame, title: str, metric: str = "r2") -> Figure:
    """Distributions (histograms) of the per-feature r² between held-out
    inputs and translations, MIMA against the kNN baseline, per direction."""
    rows = table[ok_rows(table) & (table["metric"] == metric)]
    directions = list(dict.fromkeys(zip(rows["source"], rows["target"])))
    figure, axes = new_figure(1, max(len(directions), 1), panel=(3.4, 3.0), legend_width=legend_width(rows["method"].unique()))
    if not directions:
        message_panel(axes[0, 0], "no translation r² (MIMA failed?)")
    colours = category_colours(sorted(rows["method"].unique())) if directions else {}
    bins = np.linspace(0, 1, 26)
    for ax, (source, target) in zip(axes[0], directions):
        part = rows[(rows["source"] == source) & (rows["target"] == target)]
        for method, values in part.groupby("method")["value"]:
            ax.hist(values.dropna().clip(0, 1), bins=bins, histtype="step", color=colours[method], linewidth=1.4,
                    label=method)
        ax.set_xlabel(f"{metric} per feature")
        ax.set_ylabel("features")
        ax.set_title(f"{source} → {target}")
    if directions:
        legend_outside(axes[0, -1], colours, "method")
    figure.suptitle(title)
    _failure_note(figure, failed_methods(table))
    return figure
