"""The demo pipeline end to end: wall time and the slowest rules.

Runs ``snakemake <target> --cores <n>`` on the repository's Snakefile in a
fresh working folder (a copy of config.yaml, so the checkout's results/ are
untouched), then reads every job's ``benchmark:`` table and writes one JSON
line: wall time, summed job time and CPU time, peak memory, and the slowest
rules and jobs.

    python benchmarks/demo_pipeline.py                 # the demo (offline)
    python benchmarks/demo_pipeline.py --target ci     # the tests' tiny run
    python benchmarks/demo_pipeline.py --smoke         # seconds: raw + prepare of one tiny dataset
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, log, write_record  # noqa: E402

SMOKE_FILES = ["results/ci_cite/prepared.h5mu", "results/ci_cite/folds.tsv"]


def job_benchmarks(workdir: Path) -> pd.DataFrame:
    """Every job's benchmark table (``results/**/benchmarks/*.tsv``) with the
    job's dataset, rule name and wildcard suffix."""
    rows = []
    for path in sorted(workdir.glob("results/**/benchmarks/*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        dataset = path.parent.parent.name
        rows.append({"dataset": dataset, "job": path.stem, "rule": rule_of(path.stem),
                     "seconds": float(table["s"].iloc[-1]), "cpu_seconds": float(table["cpu_time"].iloc[-1]),
                     "max_rss_mb": float(table["max_rss"].replace("-", 0).astype(float).iloc[-1])})
    return pd.DataFrame(rows, columns=["dataset", "job", "rule", "seconds", "cpu_seconds", "max_rss_mb"])


def rule_of(job: str) -> str:
    """Rule name of a benchmark file stem (wildcards stripped): e.g.
    ``train_mima_fold_2`` → ``train_mima_fold``, ``classification_input-rna``
    → ``classification``, ``figure_umap_input_rna`` → ``figure_umap``."""
    for prefix in ("classification_tables", "classification", "train_mima_fold", "predict_mima_fold", "figure_umap",
                   "figure_rgb", "figure_qc", "figure_classification", "embed_"):
        if job.startswith(prefix):
            return job if prefix == "embed_" else prefix
    return re.sub(r"_\d+$", "", job)


def summarise(jobs: pd.DataFrame, n_top: int = 10) -> dict:
    """Totals and the slowest rules (summed over their jobs) and jobs."""
    by_rule = jobs.groupby("rule")["seconds"].agg(["sum", "count"]).sort_values("sum", ascending=False)
    slowest_jobs = jobs.sort_values("seconds", ascending=False).head(n_top)
    return {
        "n_jobs": int(len(jobs)),
        "job_seconds_total": round(float(jobs["seconds"].sum()), 1),
        "cpu_seconds_total": round(float(jobs["cpu_seconds"].sum()), 1),
        "max_rss_mb": round(float(jobs["max_rss_mb"].max()), 1) if len(jobs) else 0.0,
        "slowest_rules": [{"rule": rule, "seconds": round(float(row["sum"]), 1), "jobs": int(row["count"])}
                          for rule, row in by_rule.head(n_top).iterrows()],
        "slowest_jobs": [{"dataset": r.dataset, "job": r.job, "seconds": round(r.seconds, 1)}
                         for r in slowest_jobs.itertuples()],
    }


def run(target: str, cores: int, workdir: Path, files: list[str] | None = None) -> float:
    """Run the pipeline; return its wall time in seconds."""
    shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", str(cores), *(files or [target])]
    log(" ".join(command))
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - started
    (workdir / "snakemake.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"snakemake failed (exit {done.returncode}); log: {workdir / 'snakemake.log'}\n"
                         + done.stderr[-3000:])
    return wall


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="demo", help="named target of config.yaml (default: demo)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--smoke", action="store_true", help="only read and prepare one tiny dataset")
    args = parser.parse_args(argv)
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mima-demo-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        target = "smoke" if args.smoke else args.target
        wall = run(args.target, args.cores, workdir, SMOKE_FILES if args.smoke else None)
        record = {"target": target, "cores": args.cores, "wall_seconds": round(wall, 1),
                  **summarise(job_benchmarks(workdir))}
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return write_record("demo_pipeline", record)


if __name__ == "__main__":
    main()
