"""Time and memory of one ``mima.evaluate.scib.scib_raw`` call at scale.

Synthetic embedding: ``--cells`` x ``--dims`` (default 90,000 x 100), 20
labels (unequal sizes; label 0 lives in batch 0 only, so isolated labels
exist) and 10 batches (a batch shift on top of label centres and noise);
the PCR baseline is the same data with a three times larger batch shift.
Prints ONE JSON line: machine (nproc, RAM), versions, n_cells, wall seconds
per scIB step and in total, peak RSS (``resource.getrusage``), and the raw
metric values. Logs go to stderr.

Measured (2 cores, 23.5 GB, exact kNN, machine shared with other jobs):
3,000 cells 35 s after a 60 s warm-up (64 s cold); 20,000 cells 46-82 s
(load average 1-3) after a 50-62 s warm-up; 90,000 cells 339 s after a 50 s
warm-up (kBET 147 s, KMeans 53 s, label silhouette 52 s, Leiden 34 s,
silhouette batch 25 s, kNN 22 s), peak RSS 3.1 GB.

``--warmup`` first scores a 2,000-cell subset so that one-off compilation
(numba in pynndescent / umap, jax) is timed separately
(``warmup_seconds``) instead of inside the per-metric seconds.

Usage::

    .venv/bin/python benchmarks/scib_large.py --cells 3000
    .venv/bin/python benchmarks/scib_large.py --cells 20000 --warmup
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
from importlib.metadata import version

import numpy as np


def synthetic(n_cells: int, n_dims: int, n_labels: int, n_batches: int, seed: int = 0):
    """Embedding, labels, batches and PCR baseline of the benchmark."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_labels, 2.0))
    labels = rng.choice(n_labels, size=n_cells, p=weights)
    batch = rng.integers(0, n_batches, size=n_cells)
    batch[labels == 0] = 0  # an isolated label
    centres = rng.normal(scale=3.0, size=(n_labels, n_dims))
    shifts = rng.normal(scale=0.3, size=(n_batches, n_dims))
    noise = rng.normal(size=(n_cells, n_dims))
    X = (centres[labels] + shifts[batch] + noise).astype(np.float32)
    baseline = (centres[labels] + 3 * shifts[batch] + noise).astype(np.float32)[:, :50]
    return (X, np.array([f"type{i}" for i in labels], dtype=object),
            np.array([f"sample{i}" for i in batch], dtype=object), baseline)


def ram_gb() -> float:
    """Total memory of the machine in GB (from /proc/meminfo)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return float("nan")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=90_000)
    parser.add_argument("--dims", type=int, default=100)
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--neighbor-method", default="exact", choices=["exact", "pynndescent"])
    parser.add_argument("--no-leiden", action="store_true")
    parser.add_argument("--warmup", action="store_true", help="score 2,000 cells first (compilation)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    import scib_metrics  # noqa: F401  (installs a rich handler that prints to stdout)

    scib_logger = logging.getLogger("scib_metrics")
    for handler in list(scib_logger.handlers):
        scib_logger.removeHandler(handler)
    scib_logger.addHandler(logging.StreamHandler(sys.stderr))  # stdout: the JSON line only

    from mima.evaluate.scib import scib_raw

    X, labels, batch, baseline = synthetic(args.cells, args.dims, args.labels, args.batches, args.seed)
    warmup = None
    if args.warmup:
        m = min(2000, args.cells)
        start = time.perf_counter()
        scib_raw(X[:m], labels[:m], batch[:m], baseline=baseline[:m], seed=args.seed,
                 leiden=not args.no_leiden, neighbor_method=args.neighbor_method)
        warmup = round(time.perf_counter() - start, 2)

    timings: dict[str, float] = {}
    start = time.perf_counter()
    raw = scib_raw(X, labels, batch, baseline=baseline, seed=args.seed, leiden=not args.no_leiden,
                   neighbor_method=args.neighbor_method, timings=timings)
    total = time.perf_counter() - start
    record = {
        "benchmark": "scib_large",
        "machine": {"nproc": os.cpu_count(), "ram_gb": ram_gb(), "platform": platform.platform()},
        "versions": {"python": platform.python_version(),
                     **{p: version(p) for p in ("scib-metrics", "jax", "numpy", "scikit-learn",
                                                "pynndescent", "igraph")}},
        "n_cells": args.cells, "n_dims": args.dims, "n_labels": args.labels, "n_batches": args.batches,
        "neighbor_method": args.neighbor_method,
        "warmup_seconds": warmup,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "total_seconds": round(total, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "raw": {k: (None if np.isnan(v) else round(v, 6)) for k, v in raw.items()},
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
