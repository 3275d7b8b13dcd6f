"""benchmarks/demo_pipeline.py: a smoke run writes its JSON line; the
summary of benchmark tables is right."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from demo_pipeline import rule_of, summarise  # noqa: E402


def test_rule_names_of_benchmark_files():
    assert rule_of("train_mima_fold_2") == "train_mima_fold"
    assert rule_of("classification_input-rna") == "classification"
    assert rule_of("classification_tables") == "classification_tables"
    assert rule_of("figure_umap_input_rna") == "figure_umap"
    assert rule_of("embed_scvi") == "embed_scvi"
    assert rule_of("scib") == "scib"


def test_summary_sums_jobs_per_rule_and_orders_the_slowest_first():
    jobs = pd.DataFrame({"dataset": ["a", "a", "b"], "job": ["train_mima_fold_0", "train_mima_fold_1", "scib"],
                         "rule": ["train_mima_fold", "train_mima_fold", "scib"], "seconds": [10.0, 20.0, 25.0],
                         "cpu_seconds": [9.0, 19.0, 40.0], "max_rss_mb": [100.0, 300.0, 200.0]})
    summary = summarise(jobs)
    assert summary["slowest_rules"][0] == {"rule": "train_mima_fold", "seconds": 30.0, "jobs": 2}
    assert summary["slowest_jobs"][0]["job"] == "scib"
    assert summary["cpu_seconds_total"] == 68.0 and summary["max_rss_mb"] == 300.0 and summary["n_jobs"] == 3


def test_smoke_run_writes_one_json_line(tmp_path):
    env = dict(os.environ, MIMA_BENCHMARK_OUT=str(tmp_path))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "demo_pipeline.py"), "--smoke"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["benchmark"] == "demo_pipeline" and record["target"] == "smoke"
    assert record["n_jobs"] >= 3  # raw_dataset, prepare, folds
    assert {r["rule"] for r in record["slowest_rules"]} >= {"raw_dataset", "prepare", "folds"}
    assert (tmp_path / "demo_pipeline.jsonl").is_file()
