"""Gene-set scores."""

from __future__ import annotations

import numpy as np
import pytest

from mima.errors import InputError
from mima.evaluate.enrichment import enrichment_table, gene_set_score, read_gene_set


def test_gene_set_file_skips_comments_and_duplicates(tmp_path):
    path = tmp_path / "set.txt"
    path.write_text("# prostate\nNEFH\n\nKLK3  # PSA\nNEFH\n")
    assert read_gene_set(path) == ["NEFH", "KLK3"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(InputError, match="empty.txt: gene set"):
        read_gene_set(tmp_path / "empty.txt")


def test_cells_expressing_the_set_score_higher():
    rng = np.random.default_rng(0)
    values = rng.random((60, 400)).astype(np.float32)
    values[:30, :5] += 3.0  # the first half expresses the set
    names = [f"g{i}" for i in range(400)]
    score = gene_set_score(values, names, ["g0", "g1", "g2", "g3", "g4", "absent"], seed=0)
    assert score[:30].mean() > score[30:].mean() + 2.0
    np.testing.assert_array_equal(score, gene_set_score(values, names, ["g0", "g1", "g2", "g3", "g4"], seed=0))
    with pytest.raises(InputError, match="none of the 1 genes"):
        gene_set_score(values, names, ["XIST"], source="set.txt")


def test_table_has_per_cell_scores_and_per_class_means():
    table = enrichment_table("d", {("input", "rna"): np.array([1.0, 3.0, 5.0])}, ["a", "b", "c"], ["x", "x", "y"])
    means = table[table.metric == "mean_score"].set_index("class")["value"]
    assert means.to_dict() == {"x": 2.0, "y": 5.0}
    assert list(table.loc[table.metric == "score", "cell"]) == ["a", "b", "c"]


@pytest.mark.parametrize("block_rows", [7, 1000])
def test_scores_read_by_blocks_equal_scanpy_on_the_whole_matrix(tmp_path, block_rows):
    """The streaming score (a layer of an outputs file, read 7 cells at a
    time) equals scanpy's ``score_genes`` on the whole matrix, exactly."""
    import anndata as ad
    import mudata as md
    import pandas as pd

    from mima.data.h5_layers import LayerRows
    from mima.evaluate.enrichment import gene_set_score_blocks

    rng = np.random.default_rng(2)
    values = (rng.gamma(0.5, 1.0, (103, 700)) * rng.lognormal(0, 1, 700)).astype(np.float32)
    names = [f"g{i}" for i in range(700)]
    adata = ad.AnnData(obs=pd.DataFrame(index=[f"c{i}" for i in range(103)]), var=pd.DataFrame(index=names))
    adata.layers["denoised"] = values
    path = tmp_path / "outputs.h5mu"
    md.MuData({"rna": adata}).write_h5mu(path)
    genes = ["g3", "g50", "g51", "g400", "g699", "absent"]
    expected = gene_set_score(values, names, genes, seed=4)
    got = gene_set_score_blocks(LayerRows(path, "rna", "denoised"), names, genes, seed=4, block_rows=block_rows)
    np.testing.assert_array_equal(got, expected)
