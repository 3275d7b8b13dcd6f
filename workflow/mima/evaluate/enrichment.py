"""Gene-set scores (DESIGN §4): ``scanpy.tl.score_genes`` with a user's gene
set, on the RNA input and on MIMA's denoised and batch-corrected RNA.

Table ``results/{dataset}/tables/enrichment.tsv``: columns ``dataset,
method, embedding, metric, value, cell, class`` — per cell ``metric =
score`` (``cell`` set), and per annotation ``metric = mean_score``
(``class`` set). ``method`` is ``input`` or ``mima``; ``embedding`` names
what was scored (``rna``, ``denoised_rna``, ``batch_corrected_rna``).

MIMA's layers are scored from the file a block of cells at a time
(:func:`gene_set_score_blocks`): one pass for every gene's mean (the
control genes' expression bins), one for the per-cell means of the set's
and the control genes' columns; never a whole layer in memory.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import InputError


def read_gene_set(path: str | Path) -> list[str]:
    """Genes of a gene-set file: one a line; blank lines and ``#`` comments skipped."""
    genes = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            genes.append(line)
    if not genes:
        raise InputError(path, "gene set", "holds no gene", "write one gene symbol a line")
    return list(dict.fromkeys(genes))


def gene_set_score(values, var_names, genes: list[str], seed: int = 0, source: str = "<gene set>") -> np.ndarray:
    """``scanpy.tl.score_genes`` score of each cell (mean expression of the
    set minus that of matched random control genes).

    Raises
    ------
    InputError
        When none of the genes is among ``var_names``.
    """
    import scanpy as sc

    present = [g for g in genes if g in set(map(str, var_names))]
    if not present:
        raise InputError(source, "genes", f"none of the {len(genes)} genes is among the RNA features",
                         "use gene symbols as in the data's var_names")
    adata = ad.AnnData(values, var=pd.DataFrame(index=pd.Index(map(str, var_names))))
    sc.tl.score_genes(adata, present, random_state=seed, score_name="score")
    return adata.obs["score"].to_numpy(dtype=float)


def gene_set_score_blocks(layer, var_names, genes: list[str], seed: int = 0, source: str = "<gene set>",
                          block_rows: int | None = None, memory_mb: float = 256, ctrl_size: int = 50,
                          n_bins: int = 25) -> np.ndarray:
    """:func:`gene_set_score` of a dense on-disk matrix, read a block of
    cells at a time.

    The same numbers as ``scanpy.tl.score_genes`` (defaults, ``ctrl_as_ref``)
    on the whole matrix: the genes' means are accumulated in float32 row by
    row, the order numpy sums a float32 matrix's columns in, so the
    expression bins and thus the (seeded) control genes are the same; the
    per-cell means are row-wise, hence equal block by block.

    Parameters
    ----------
    layer
        A :class:`mima.data.h5_layers.LayerRows` (cells × genes, float32).
    var_names
        Gene names of its columns.
    genes, seed, source
        As for :func:`gene_set_score`.
    block_rows
        Cells per block (default: from ``memory_mb``).
    ctrl_size, n_bins
        ``scanpy.tl.score_genes``' settings (its defaults).
    """
    var_names = pd.Index(list(map(str, var_names)))
    present = [g for g in genes if g in set(var_names)]
    if not present:
        raise InputError(source, "genes", f"none of the {len(genes)} genes is among the RNA features",
                         "use gene symbols as in the data's var_names")
    n_cells, n_genes = layer.shape
    block_rows = block_rows or max(1, int(memory_mb * 2**20) // max(1, 8 * n_genes))
    total = np.zeros(n_genes, dtype=np.float32)
    count = np.zeros(n_genes, dtype=np.intp)
    for _, _, block in layer.blocks(block_rows):
        nan = np.isnan(block)
        block = np.where(nan, np.float32(0), block)
        total = np.add.reduce(np.concatenate([total[None, :], block]), axis=0)  # sequential, as numpy sums axis 0
        count += (~nan).sum(axis=0, dtype=np.intp)
    means = np.true_divide(total, count, out=total, casting="unsafe")

    np.random.seed(seed)  # scanpy seeds numpy's global generator: so do we, for the same control genes
    gene_list = pd.Index(present).intersection(var_names)
    average = pd.Series(means, index=var_names.astype("string"))
    average = average[np.isfinite(average)]
    n_items = int(np.round(len(average) / (n_bins - 1)))
    cut = average.rank(method="min") // n_items
    control = pd.Index([], dtype="string")
    for value in np.unique(cut.loc[gene_list]):
        chosen = cut[cut == value].index
        if ctrl_size < len(chosen):
            chosen = chosen.to_series().sample(ctrl_size).index
        control = control.union(chosen.difference(gene_list))
    if len(control) == 0:
        raise InputError(source, "genes", "no control genes found in any expression bin", "use a smaller gene set")
    scores = np.empty(n_cells)
    columns = [var_names.get_indexer(g) for g in (gene_list, control)]
    for start, stop, block in layer.blocks(block_rows):
        scores[start:stop] = (np.nanmean(block[:, columns[0]], axis=1, dtype="float64")
                              - np.nanmean(block[:, columns[1]], axis=1, dtype="float64"))
    return scores


def enrichment_table(dataset: str, scores: dict[tuple[str, str], np.ndarray], cells, labels=None) -> pd.DataFrame:
    """Long table of per-cell scores and per-annotation means.

    Parameters
    ----------
    scores
        ``{(method, embedding): score per cell}``.
    cells
        Cell names.
    labels
        Annotation per cell, or ``None``.
    """
    frames = []
    for (method, embedding), values in scores.items():
        per_cell = pd.DataFrame({"dataset": dataset, "method": method, "embedding": embedding, "metric": "score",
                                 "value": values, "cell": list(map(str, cells)), "class": ""})
        frames.append(per_cell)
        if labels is not None:
            means = pd.Series(values).groupby(np.asarray(labels, dtype=str)).mean()
            frames.append(pd.DataFrame({"dataset": dataset, "method": method, "embedding": embedding,
                                        "metric": "mean_score", "value": means.to_numpy(), "cell": "",
                                        "class": means.index.astype(str)}))
    return pd.concat(frames, ignore_index=True)
