"""The rehearsal's numbers: every job's peak memory and wall time, and the
projection of the real `paper` run.

Reads, from a working folder where ``snakemake rehearsal`` (or one
``rehearsal_<dataset>`` target) has run:

- every job's ``benchmark:`` table (Snakemake's: wall seconds, peak RSS of
  the job's process tree);
- every job's declared ``mem_mb`` and benchmark path, from a dry run of the
  same target with ``--forceall`` (Snakemake prints each job's resources);
- the training lines the jobs log (``trained N steps in S s`` from MIMA's
  trainer, ``trained <tool>: E epochs in S s on N cells`` from the
  scvi-tools adapters, ``trained mofa: I iterations in S s``).

Projection of the real run (the study's training lengths; everything else
is measured as it ran, since the rehearsal runs the study's preprocessing,
latent sizes and evaluation on data of the study's shapes):

- MIMA and its 4CV folds: seconds per step times the study's steps, 50
  epochs of ``ceil(0.8 * n_train / 128)`` steps;
- scVI and totalVI: seconds per epoch times scvi-tools' default
  ``min(round(20000 / n_cells * 400), 400)`` epochs; MultiVI: its default
  500 epochs (an upper bound: it stops early on its validation loss);
- MOFA+: seconds per iteration times its default 1000 iterations (an upper
  bound: the ``fast`` convergence mode usually stops earlier; how much
  earlier cannot be measured from a few iterations);
- classification: its job time times the ratio of trees, imbalanced-learn's
  default 10 bags of scikit-learn's default 100 trees over the rehearsal's
  ``n_estimators * rf_n_estimators`` (tree fitting is the job).

Totals: the sum of the jobs (one workstation, jobs one after the other:
the local profile's memory cap and 2 cores make it nearly serial) and, for
the SLURM profile, the critical path of each dataset with every
independent job in parallel, the datasets side by side.

    python benchmarks/rehearsal_table.py --workdir . --target rehearsal > table.md
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

#: The study's training lengths and tools' defaults the projection scales to.
MIMA_EPOCHS = 50
MIMA_BATCH = 128
MIMA_VALIDATION = 0.2
MULTIVI_EPOCHS = 500
MOFA_ITERATIONS = 1000
DEFAULT_TREES = 10 * 100
#: Memory headroom every rule must declare over its measured peak.
HEADROOM = 1.2

_MIMA = re.compile(r"trained (\d+) steps in ([\d.]+) s")
_SCVI = re.compile(r"trained (\w+): (\d+) epochs in ([\d.]+) s on (\d+) cells")
_MOFA = re.compile(r"trained mofa: (\d+) iterations in ([\d.]+) s on (\d+) cells")


def scvi_default_epochs(n_cells: int) -> int:
    """scvi-tools' ``get_max_epochs_heuristic`` (scVI, totalVI)."""
    return max(min(round(20000 / n_cells * 400), 400), 1)


def declared_jobs(workdir: Path, target: str, configfile: Path) -> pd.DataFrame:
    """rule, benchmark path and declared mem_mb of every job of ``target``."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               target, "-n", "--forceall", "--configfile", str(configfile)]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows, current = [], {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            if current.get("benchmark"):
                rows.append(current)
            current = {"rule": line.split()[1].rstrip(":")}
        elif line.startswith("benchmark:"):
            current["benchmark"] = line.split(":", 1)[1].strip()
        elif line.startswith("resources:"):
            mem = re.search(r"\bmem_mb=(\d+)", line)
            current["mem_mb"] = int(mem.group(1)) if mem else None
    if current.get("benchmark"):
        rows.append(current)
    return pd.DataFrame(rows)


def measured(workdir: Path, jobs: pd.DataFrame) -> pd.DataFrame:
    """Each job's wall seconds and peak RSS (MB) from its benchmark file."""
    rows = []
    for job in jobs.itertuples():
        path = workdir / job.benchmark
        if not path.exists():
            continue
        table = pd.read_csv(path, sep="\t")
        dataset = _dataset_of(job.benchmark)
        rows.append({"dataset": dataset, "job": Path(job.benchmark).stem, "rule": job.rule,
                     "seconds": float(table["s"].iloc[-1]), "peak_rss_mb": float(table["max_rss"].iloc[-1]),
                     "mem_mb": job.mem_mb, "log": _log_of(workdir, job.benchmark)})
    return pd.DataFrame(rows)


def _dataset_of(benchmark: str) -> str:
    parts = Path(benchmark).parts
    if "standin-mirror" in parts:
        return "stand-ins"
    return parts[1] if len(parts) > 2 and parts[2] == "benchmarks" else parts[-3]


def _log_of(workdir: Path, benchmark: str) -> Path | None:
    """The job's log: benchmarks/<job>.tsv sits beside logs/<job>.log."""
    path = workdir / benchmark
    log = path.parent.parent / "logs" / f"{path.stem}.log"
    return log if log.exists() else None


def _cells(workdir: Path, dataset: str) -> int | None:
    folds = workdir / "results" / dataset / "folds.tsv"
    if not folds.exists():
        return None
    return sum(1 for _ in folds.open()) - 1


def projected_seconds(row, workdir: Path, trees: int) -> tuple[float, str]:
    """(seconds of the job at the study's training lengths, how)."""
    text = row.log.read_text(errors="replace") if row.log else ""
    seconds = row.seconds
    if row.rule in ("train_mima", "train_mima_fold", "embed_mima_unimodal"):
        runs = [(int(s), float(t)) for s, t in _MIMA.findall(text)]
        n_cells = _cells(workdir, row.dataset)
        if runs and n_cells:
            share = 0.75 if row.rule == "train_mima_fold" else 1.0
            steps = MIMA_EPOCHS * math.ceil((1 - MIMA_VALIDATION) * share * n_cells / MIMA_BATCH)
            trained = sum(t for _, t in runs)
            study = sum(t / max(s, 1) * steps for s, t in runs)
            return seconds - trained + study, f"{len(runs)} x {steps} steps"
    if row.rule in ("embed_scvi", "embed_totalvi", "embed_multivi"):
        runs = [(int(e), float(t), int(n)) for _, e, t, n in _SCVI.findall(text)]
        if runs:
            study = sum(t / max(e, 1) * (MULTIVI_EPOCHS if row.rule == "embed_multivi" else scvi_default_epochs(n))
                        for e, t, n in runs)
            epochs = MULTIVI_EPOCHS if row.rule == "embed_multivi" else scvi_default_epochs(runs[0][2])
            return seconds - sum(t for _, t, _ in runs) + study, f"{epochs} epochs"
    if row.rule == "embed_mofa":
        runs = [(int(i), float(t)) for i, t, _ in _MOFA.findall(text)]
        if runs:
            i, t = runs[0]
            return seconds - t + t / max(i, 1) * MOFA_ITERATIONS, f"≤ {MOFA_ITERATIONS} iterations"
    if row.rule == "classification":
        return seconds * DEFAULT_TREES / trees, f"{DEFAULT_TREES} trees"
    return seconds, "as measured"


def critical_path(frame: pd.DataFrame) -> float:
    """Seconds of one dataset's longest chain of dependent jobs (SLURM)."""
    seconds = frame.groupby("job")["projected_s"].sum().to_dict()

    def job(name):
        return seconds.get(name, 0.0)

    def worst(prefix):
        return max((s for name, s in seconds.items() if name.startswith(prefix)), default=0.0)

    folds = [name.removeprefix("train_mima_fold_") for name in seconds if name.startswith("train_mima_fold_")]
    fold_chain = max((job(f"train_mima_fold_{f}") + job(f"predict_mima_fold_{f}") for f in folds), default=0.0)
    mima = job("train_mima") + job("embed_mima")
    embeddings = max([mima] + [s for name, s in seconds.items()
                               if name.startswith("embed_") and name != "embed_mima"])
    after_training = max(embeddings + job("scib") + worst("figure_scib"),
                         mima + worst("classification") + worst("figure_classification"),
                         job("train_mima") + job("mima_outputs") + job("umap") + worst("figure_umap"),
                         fold_chain + job("translation_tables") + job("translation_map_values")
                         + worst("figure_translation"))
    start = sum(job(name) for name in ("raw_dataset", "prepare", "folds")) + worst("download_") + worst("standin_")
    return start + after_training


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT)
    parser.add_argument("--target", default="rehearsal")
    parser.add_argument("--configfile", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--readme", action="store_true",
                        help="also put the tables into README.md between its rehearsal-table markers")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    configfile = args.configfile or workdir / "config.yaml"
    config = __import__("yaml").safe_load(configfile.read_text())
    classification = config["rehearsal"]["settings"]["evaluation"]["classification"]
    trees = classification["n_estimators"] * classification["rf_n_estimators"]
    frame = measured(workdir, declared_jobs(workdir, args.target, configfile))
    projections = [projected_seconds(row, workdir, trees) for row in frame.itertuples()]
    frame["projected_s"] = [p[0] for p in projections]
    frame["projected_as"] = [p[1] for p in projections]
    frame["fits"] = frame["mem_mb"].fillna(0) >= HEADROOM * frame["peak_rss_mb"]
    table = markdown(frame)
    print(table)
    if args.readme:
        readme = ROOT / "README.md"
        start, end = "<!-- rehearsal-table:start -->", "<!-- rehearsal-table:end -->"
        text = readme.read_text()
        head, rest = text.split(start, 1)
        readme.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}")
    if args.json:
        args.json.write_text(frame.drop(columns="log").to_json(orient="records", indent=1))


def _count(value) -> str:
    return "?" if pd.isna(value) else f"{int(value):,}"


def markdown(frame: pd.DataFrame) -> str:
    """The README's tables: per rule and dataset, then the totals."""
    lines = ["| dataset | job | wall (s) | peak RSS (MB) | declared mem_mb | peak + 20 % fits | "
             "projected `paper` (s) | projected as |", "|---|---|---:|---:|---:|---|---:|---|"]
    for row in frame.sort_values(["dataset", "projected_s"], ascending=[True, False]).itertuples():
        lines.append(f"| {row.dataset} | {row.job} | {row.seconds:,.0f} | {row.peak_rss_mb:,.0f} | "
                     f"{_count(row.mem_mb)} | {'yes' if row.fits else '**no**'} | {row.projected_s:,.0f} | "
                     f"{row.projected_as} |")
    totals = defaultdict(dict)
    for dataset, part in frame.groupby("dataset"):
        totals[dataset] = {"rehearsal_h": part["seconds"].sum() / 3600, "paper_serial_h": part["projected_s"].sum() / 3600,
                           "paper_slurm_h": critical_path(part) / 3600 if dataset != "stand-ins" else 0.0}
    lines += ["", "| dataset | rehearsal (h, jobs in series) | projected `paper` on one workstation (h) | "
              "projected `paper` on SLURM, critical path (h) |", "|---|---:|---:|---:|"]
    for dataset, row in totals.items():
        lines.append(f"| {dataset} | {row['rehearsal_h']:.2f} | {row['paper_serial_h']:.1f} | "
                     f"{row['paper_slurm_h']:.1f} |")
    real = {d: r for d, r in totals.items() if d != "stand-ins"}
    lines.append(f"| **all** | {sum(r['rehearsal_h'] for r in totals.values()):.2f} | "
                 f"{sum(r['paper_serial_h'] for r in real.values()):.1f} | "
                 f"{max((r['paper_slurm_h'] for r in real.values()), default=0):.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
