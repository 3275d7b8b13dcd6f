"""How MIMA's training scales: epoch time against cells, and peak memory on
full-size data.

- **epoch**: MIMA epoch time on CITE-shaped cells at each of ``--cells``
  (default 10,000 and 40,000), in this process one after the other; the
  figure is the fastest epoch after the first. Linear in cells means
  ``linearity`` = (t_large / t_small) / (n_large / n_small) ≈ 1.
- **rss**: peak resident memory of MIMA training (``mima.api.MIMA.setup``
  and ``.train`` on an in-memory MuData, as ``mima train`` does after
  reading the file) on full-size multiome-shaped (69,249 cells x 13,431
  genes + 40,110 ATAC bins) and CITE-shaped (90,261 cells x 13,953 genes +
  134 proteins) data, each in its own subprocess, which reports its own
  peak (``VmHWM``; see ``common.peak_rss_mb``). The data are generated
  sparsely by another subprocess and handed over as ``.npy`` files, so the
  measured peak holds the data as training holds them and not the
  generator's scratch. ``--steps`` limits training to that
  many optimiser steps (then the full validation pass and the per-sample
  batch latent means run as usual); the whole data set is still loaded.
  The child also reports its seconds per step, from which a full epoch at
  that size is extrapolated.

Prints ONE JSON line (and appends it to ``benchmarks/out/scale.jsonl``).

Usage::

    .venv/bin/python benchmarks/scale.py                        # 10k / 40k epochs, both full-size RSS runs
    .venv/bin/python benchmarks/scale.py --parts rss --steps 100
    .venv/bin/python benchmarks/scale.py --smoke                # seconds; checks the script runs
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (CITE, MULTIOME, cite_like, log, multiome_like, peak_rss_mb, run_child,  # noqa: E402
                    stdout_to_stderr, write_record)

BATCH_SIZE = 128
#: Model settings per data kind (DESIGN §3: the study's CITE-seq betas; the defaults elsewhere).
SETTINGS = {
    "cite": {"modalities": ["rna", "adt"], "model": {"beta_poe": 0.1}, "modality": {"rna": {"beta": 0.001}}},
    "multiome": {"modalities": ["rna", "atac"], "model": {}, "modality": {}},
}
FULL = {
    "multiome": {k: MULTIOME[k] for k in ("n_cells", "n_genes", "n_bins", "n_batches")},
    "cite": {k: CITE[k] for k in ("n_cells", "n_genes", "n_proteins", "n_batches")},
}
SMOKE_FULL = {
    "multiome": {"n_cells": 500, "n_genes": 700, "n_bins": 1500, "n_batches": 3},
    "cite": {"n_cells": 500, "n_genes": 700, "n_proteins": 20, "n_batches": 3},
}


def make(kind: str, seed: int, **shapes):
    """Synthetic MuData of ``kind`` (``cite`` or ``multiome``)."""
    return (cite_like if kind == "cite" else multiome_like)(seed=seed, **shapes)


def train(mdata, kind: str, seed: int, threads: int, epochs: int = 1, max_steps: int | None = None):
    """MIMA as ``mima train`` runs it; returns the training result."""
    from mima.api import MIMA

    settings = SETTINGS[kind]
    model = MIMA.setup(mdata, settings["modalities"], model_params=settings["model"],
                       modality_params=settings["modality"], seed=seed)
    return model.train(mdata, {"max_epochs": epochs, "min_steps": 0, "batch_size": BATCH_SIZE, "seed": seed,
                               "max_steps": max_steps, "num_threads": threads, "device": "cpu", "progress": False})


# ------------------------------------------------------------------ epoch time


def epoch_scaling(cells: list[int], epochs: int, seed: int, threads: int, shapes: dict) -> dict:
    """Fastest epoch after the first at each cell count, and the linearity."""
    seconds = {}
    for n in cells:
        log(f"epoch time at {n} cells")
        mdata = make("cite", seed, **dict(shapes, n_cells=n))
        result = train(mdata, "cite", seed, threads, epochs=epochs)
        times = result.epoch_seconds[1:] or result.epoch_seconds
        seconds[str(n)] = {"best": round(min(times), 3), "all": [round(t, 3) for t in result.epoch_seconds]}
        del mdata
    small, large = min(cells), max(cells)
    ratio = seconds[str(large)]["best"] / seconds[str(small)]["best"]
    return {
        "cells": cells, "epochs": epochs, "shapes": {k: v for k, v in shapes.items() if k != "n_cells"},
        "seconds_per_epoch": seconds, "time_ratio": round(ratio, 3),
        "linearity": round(ratio / (large / small), 3),
        "microseconds_per_cell": {n: round(1e6 * v["best"] / int(n), 1) for n, v in seconds.items()},
    }


# ------------------------------------------------------------------ peak RSS


def save(mdata, folder: Path) -> dict:
    """Write each modality's ``X`` (CSR arrays or a dense array) and the
    sample codes as ``.npy``; returns the in-memory sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for m, adata in mdata.mod.items():
        x = adata.X
        if sp.issparse(x):
            for part in ("data", "indices", "indptr"):
                np.save(folder / f"{m}.{part}.npy", getattr(x, part))
            sizes[m] = {"shape": list(x.shape), "nnz": int(x.nnz),
                        "csr_mb": round((x.data.nbytes + x.indices.nbytes + x.indptr.nbytes) / 2**20, 1),
                        "dense_float32_mb": round(x.shape[0] * x.shape[1] * 4 / 2**20, 1)}
        else:
            np.save(folder / f"{m}.dense.npy", np.asarray(x))
            sizes[m] = {"shape": list(x.shape), "dense_float32_mb": round(x.size * 4 / 2**20, 1)}
    np.save(folder / "batch.npy", mdata.obs["batch"].cat.codes.to_numpy())
    (folder / "shapes.json").write_text(json.dumps({m: list(a.shape) for m, a in mdata.mod.items()}))
    return sizes


def load(folder: Path):
    """The MuData that :func:`save` wrote (arrays loaded whole, not mapped)."""
    import anndata as ad
    import mudata as md
    import pandas as pd

    shapes = json.loads((folder / "shapes.json").read_text())
    codes = np.load(folder / "batch.npy")
    names = pd.Index([f"cell{i}" for i in range(codes.shape[0])])
    mods = {}
    for m, shape in shapes.items():
        if (folder / f"{m}.dense.npy").exists():
            x = np.load(folder / f"{m}.dense.npy")
        else:
            x = sp.csr_matrix(tuple(np.load(folder / f"{m}.{p}.npy") for p in ("data", "indices", "indptr")),
                              shape=tuple(shape), copy=False)
        var = pd.DataFrame(index=[f"{m}_{j}" for j in range(shape[1])])
        mods[m] = ad.AnnData(x, obs=pd.DataFrame(index=names), var=var)
    with md.set_options(pull_on_update=False):
        mdata = md.MuData(mods)
    mdata.obs["batch"] = pd.Categorical([f"sample{c}" for c in codes])
    return mdata


def child(kind: str, folder: Path, steps: int, seed: int, threads: int) -> dict:
    """The measured run: load the data, train, report time and own peak RSS."""
    start = time.perf_counter()
    mdata = load(folder)
    loaded = time.perf_counter()
    rss_loaded = peak_rss_mb()["self"]
    result = train(mdata, kind, seed, threads, epochs=1, max_steps=steps)
    done = time.perf_counter()
    train_seconds = result.epoch_seconds[0] - result.validation_seconds[0]
    per_step = train_seconds / max(result.steps, 1)
    n_train, n_validation = result.train_indices.size, result.validation_indices.size
    return {
        "kind": kind, "n_cells": int(mdata.n_obs), "steps": result.steps,
        "load_seconds": round(loaded - start, 2), "fit_seconds": round(done - loaded, 2),
        "seconds_per_step": round(per_step, 4), "validation_seconds": round(result.validation_seconds[0], 2),
        "extrapolated_epoch_seconds": round(per_step * math.ceil(n_train / BATCH_SIZE)
                                            + result.validation_seconds[0], 1),
        "n_train": int(n_train), "n_validation": int(n_validation),
        "peak_rss_mb_after_load": rss_loaded, "peak_rss_mb_self": peak_rss_mb()["self"],
    }


def generate(kind: str, folder: Path, seed: int, shapes: dict) -> dict:
    """Generate ``kind``'s data into ``folder``; returns their sizes."""
    mdata = make(kind, seed, **shapes)
    return save(mdata, folder)


def _subprocess(*args: str) -> tuple[dict, float]:
    """Run this script with ``args``; its JSON line and its ``ru_maxrss``."""
    code, stdout, ru_maxrss = run_child([sys.executable, __file__, *args])
    if code != 0:
        raise RuntimeError(f"scale.py {' '.join(args)} failed with exit code {code}")
    return json.loads(stdout.strip().splitlines()[-1]), ru_maxrss


def rss_runs(kinds: list[str], steps: int, seed: int, threads: int, shapes: dict, workdir: Path | None) -> dict:
    """Generate each kind's data, then train on it, each in a subprocess."""
    out = {}
    for kind in kinds:
        folder = Path(tempfile.mkdtemp(prefix=f"mima-scale-{kind}-", dir=workdir))
        try:
            log(f"generating full-size {kind}: {shapes[kind]}")
            sizes, _ = _subprocess("--generate", kind, "--data", str(folder), "--seed", str(seed),
                                   "--shapes", json.dumps(shapes[kind]))
            log(f"training {kind} in a subprocess ({steps} steps)")
            figures, ru_maxrss = _subprocess("--child", kind, "--data", str(folder), "--steps", str(steps),
                                             "--seed", str(seed), "--threads", str(threads))
            out[kind] = {"shapes": shapes[kind], "data": sizes, "peak_rss_mb": figures["peak_rss_mb_self"],
                         "ru_maxrss_mb": ru_maxrss, **figures}
            log(f"{kind}: peak RSS {out[kind]['peak_rss_mb'] / 1024:.2f} GB")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def main(argv=None) -> dict | None:
    """Run the benchmark (or, with ``--child``, one measured training run)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["epoch", "rss"], choices=["epoch", "rss"])
    parser.add_argument("--cells", nargs="+", type=int, default=[10_000, 40_000])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per cell count (the first is warm-up)")
    parser.add_argument("--kinds", nargs="+", default=["multiome", "cite"], choices=["multiome", "cite"])
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps of each full-size run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="where the full-size data are written (temp)")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes: checks that the script runs")
    parser.add_argument("--child", choices=["multiome", "cite"], help=argparse.SUPPRESS)
    parser.add_argument("--generate", choices=["multiome", "cite"], help=argparse.SUPPRESS)
    parser.add_argument("--shapes", type=json.loads, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.generate:
        print(json.dumps(generate(args.generate, args.data, args.seed, args.shapes)), flush=True)
        return None
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        with stdout_to_stderr():
            figures = child(args.child, args.data, args.steps, args.seed, args.threads)
        print(json.dumps(figures), flush=True)
        return None

    record = {"smoke": args.smoke, "threads": args.threads, "batch_size": BATCH_SIZE}
    with stdout_to_stderr():
        if "epoch" in args.parts:
            cells = [200, 400] if args.smoke else sorted(args.cells)
            shapes = ({"n_genes": 700, "n_proteins": 20, "n_batches": 3} if args.smoke
                      else {k: CITE[k] for k in ("n_genes", "n_proteins", "n_batches")})
            record["epoch"] = epoch_scaling(cells, 2 if args.smoke else args.epochs, args.seed, args.threads, shapes)
        if "rss" in args.parts:
            record["rss"] = rss_runs(args.kinds, 3 if args.smoke else args.steps, args.seed, args.threads,
                                     SMOKE_FULL if args.smoke else FULL, args.workdir)
    return write_record("scale", record)


if __name__ == "__main__":
    main()
