"""The method runner: contract checks and failure isolation; the runtime table."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

import mima.methods as methods
from mima.evaluate.runtime import runtime_table
from mima.methods.base import Requirements


def fake_adapter(run, requires=Requirements()):
    return types.SimpleNamespace(REQUIRES=requires, run=run, version=lambda: "0.0")


@pytest.fixture
def with_adapter(monkeypatch):
    def install(module):
        monkeypatch.setattr(methods, "adapter", lambda name: module)
    return install


def test_successful_method_writes_the_contract(paired, with_adapter):
    with_adapter(fake_adapter(lambda mdata, mods, params, seed, threads: {"fake_m0": np.ones((mdata.n_obs, 3))}))
    result = methods.run_method("fake", paired, ["m0", "m1"], {"k": 3}, seed=7)
    assert result.uns["status"] == "ok" and set(result.obsm) == {"fake_m0"}
    assert result.uns["method"]["seed"] == 7 and '"k": 3' in result.uns["method"]["parameters"]
    assert result.uns["method"]["runtime_s"] >= 0 and list(result.obs_names) == list(paired.obs_names)


@pytest.mark.parametrize("run, reason", [
    (lambda mdata, *a: (_ for _ in ()).throw(RuntimeError("CUDA out of memory")), "RuntimeError: CUDA out of memory"),
    (lambda mdata, *a: {"x": np.full((mdata.n_obs, 2), np.nan)}, "non-finite"),
    (lambda mdata, *a: {"x": np.ones((3, 2))}, "shape"),
    (lambda mdata, *a: {}, "no embedding"),
])
def test_a_failing_method_gives_a_failure_record(paired, with_adapter, run, reason):
    with_adapter(fake_adapter(run))
    result = methods.run_method("fake", paired, ["m0"], {}, seed=0)
    assert result.uns["status"] == "failed" and reason in result.uns["reason"]
    assert len(result.obsm) == 0 and "\n" not in result.uns["reason"]


def test_unmet_requirement_is_a_failure_naming_the_field(paired, with_adapter):
    with_adapter(fake_adapter(lambda *a: {}, Requirements(counts=("m1",))))
    result = methods.run_method("fake", paired, ["m0", "m1"], {}, seed=0)
    assert result.uns["status"] == "failed" and "layers['counts']" in result.uns["reason"]


def test_runtime_table_sums_jobs_and_keeps_failures(tmp_path):
    def bench(name, seconds, rss):
        path = tmp_path / f"{name}.tsv"
        pd.DataFrame({"s": [seconds], "h:m:s": ["0"], "max_rss": [rss]}).to_csv(path, sep="\t", index=False)
        return str(path)
    table = runtime_table("d", {"mima": [bench("train_mima", 10.0, 500.0), bench("embed_mima", 2.0, 300.0)],
                                "pca": [bench("embed_pca", 1.5, "-")]},
                          {"pca": ("failed", "ValueError: boom")})
    wide = table.pivot(index="method", columns="metric", values="value")
    assert wide.loc["mima", "seconds"] == 12.0 and wide.loc["mima", "max_rss_mb"] == 500.0
    assert wide.loc["pca", "max_rss_mb"] == 0.0
    assert set(table.loc[table.method == "pca", "status"]) == {"failed"}
    assert list(table.columns) == ["dataset", "method", "embedding", "metric", "value", "status", "reason"]
