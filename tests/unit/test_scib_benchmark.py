"""benchmarks/scib_large.py runs (--smoke: 600 cells) and writes one JSON
line with the machine, the versions and its figures. Timings are not checked."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from helpers import REPO

pytest.importorskip("scib_metrics")

STEPS = {"neighbors", "silhouette_label", "kmeans", "leiden", "clisi", "silhouette_batch", "ilisi", "kbet",
         "graph_connectivity", "pcr_comparison"}


@pytest.mark.slow
def test_scib_benchmark_smoke_writes_one_json_line(tmp_path):
    from mima.evaluate.scib import METRICS

    env = dict(os.environ, MIMA_BENCHMARK_OUT=str(tmp_path))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "scib_large.py"), "--smoke"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must hold only the JSON line, got: {done.stdout[:2000]}"
    record = json.loads(lines[0])
    assert json.loads((tmp_path / "scib_large.jsonl").read_text().splitlines()[-1]) == record

    assert record["benchmark"] == "scib_large" and record["smoke"] is True
    assert {"cpu", "cores", "ram_gb", "load_average"} <= set(record["machine"])
    assert {"python", "numpy", "scib-metrics", "jax", "numba", "igraph"} <= set(record["versions"])
    assert record["settings"]["n_cells"] == 600 and record["settings"]["n_jobs"] >= 1
    assert set(record["seconds"]) == STEPS
    assert all(v >= 0 for v in record["seconds"].values())
    assert record["total_seconds"] >= max(record["seconds"].values())
    assert record["peak_rss_mb"] > 0
    assert set(record["raw"]) == set(METRICS)
    assert all(v is not None and math.isfinite(v) for v in record["raw"].values())
    assert record["compare"] is None  # --compare not asked
