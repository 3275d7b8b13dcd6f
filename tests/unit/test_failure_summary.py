"""The failures a run recorded, listed at its end with what to delete to
redo each (issue 18 §1)."""

from __future__ import annotations

import anndata as ad
import numpy as np

from mima.data.atomic_write import write_h5ad_atomic
from mima.status import failure_summary, mark_failed, mark_ok, recorded_failures, write_failure


def embeddings(path, why=None):
    adata = ad.AnnData(obs={"x": np.arange(3)})
    if why is None:
        mark_ok(adata)
    else:
        mark_failed(adata, why)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_h5ad_atomic(adata, path)


def test_failed_models_and_methods_are_listed_with_what_to_delete(tmp_path):
    base = tmp_path / "results" / "mine"
    write_failure(base / "mima" / "model", "checkpoint unreadable")
    (base / "mima" / ".ckpt").mkdir()
    write_failure(base / "mima" / "cv" / "2" / "model", "diverged")
    embeddings(base / "embeddings" / "mima.h5ad", "checkpoint unreadable")  # redone with the model
    embeddings(base / "embeddings" / "pca.h5ad", "n_comps must be positive")
    embeddings(base / "embeddings" / "harmony.h5ad")
    failures = recorded_failures(tmp_path / "results", ["mine", "absent"])
    assert [(f["what"], f["reason"]) for f in failures] == [
        ("mima", "checkpoint unreadable"), ("mima (4CV fold 2)", "diverged"), ("pca", "n_comps must be positive")]
    assert failures[0]["delete"] == [str(base / "mima" / "model"), str(base / "mima" / ".ckpt"),
                                     str(base / "embeddings" / "mima.h5ad")]
    assert failures[1]["delete"] == [str(base / "mima" / "cv" / "2" / "model")]  # no checkpoint left there
    assert failures[2]["delete"] == [str(base / "embeddings" / "pca.h5ad")]
    lines = failure_summary(failures).splitlines()
    assert lines[0].startswith("3 method run(s) recorded as failed")
    assert "  mine: pca: n_comps must be positive" in lines
    assert f"    to redo it: fix the cause, delete {base / 'embeddings' / 'pca.h5ad'}, then rerun snakemake" in lines


def test_no_failure_no_summary(tmp_path):
    embeddings(tmp_path / "results" / "mine" / "embeddings" / "pca.h5ad")
    assert recorded_failures(tmp_path / "results", ["mine"]) == [] and failure_summary([]) == ""
