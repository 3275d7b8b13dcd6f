"""Gene-set scores (DESIGN §4): ``scanpy.tl.score_genes`` with a user's gene
set, on the RNA input and on MIMA's denoised and batch-corrected RNA.

Table ``results/{dataset}/tables/enrichment.tsv``: columns ``dataset,
method, embedding, metric, value, cell, class`` — per cell ``metric =
score`` (``cell`` set), and per annotation ``metric = mean_score``
(``class`` set). ``method`` is ``input`` or ``mima``; ``embedding`` names
what was scored (``rna``, ``denoised_rna``, ``batch_corrected_rna``).
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
