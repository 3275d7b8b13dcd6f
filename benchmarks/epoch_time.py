"""Epoch time of MIMA, totalVI and scVI on the same CITE-shaped cells, and
MIMA's efficiency against a dense implementation at the matmul peak.

Data: ``--cells`` synthetic CITE-seq-shaped cells (default 10,000; 13,953
genes at 8 % non-zeros, 134 proteins, 12 samples; see ``common.py``). Every
method trains ``--epochs`` epochs with batch size 128 on ``--threads`` torch
threads, one after the other in this process:

- ``mima``: :class:`mima.api.MIMA` at the study's CITE settings (β_PoE 0.1,
  β_rna 0.001), 80/20 split; an epoch is the training pass and the
  validation pass;
- ``totalvi``: scvi-tools' TOTALVI as the pipeline's adapter builds it
  (RNA and protein counts, 100-d latent);
- ``scvi_rna``, ``scvi_adt``: scVI per modality as the pipeline's adapter
  builds it (counts, NB, 100-d latent); ``scvi`` is their sum.

scvi-tools' epochs are timed by a Lightning callback from the start to the
end of each training epoch (its validation runs inside). The figure of each
method is its fastest epoch after the first (warm-up); ratios divide it by
MIMA's.

Efficiency: the FLOPs of one epoch of a plain dense implementation of the
same model (``common.dense_flops``: forward + weight and input gradients of
every linear map, from the layer shapes) divided by the float32 matmul peak
measured in this run (2048³, best of the measurements before and after the
methods) give the dense-ideal time; efficiency = dense-ideal time / MIMA's
epoch time. Sparse inputs and the loss's expansion let MIMA do fewer FLOPs
than the dense model, so it may exceed 100 %.

``--ablation`` also times training steps of MIMA with its optimisations
switched off one by one (dense reference = dense minibatches, decoded
reconstructions, unfused Adam); ``--profile N`` adds the torch profiler's
top operators over N MIMA training steps.

Prints ONE JSON line (and appends it to ``benchmarks/out/epoch_time.jsonl``).

Usage::

    .venv/bin/python benchmarks/epoch_time.py                 # 10,000 cells, all methods
    .venv/bin/python benchmarks/epoch_time.py --ablation --profile 20
    .venv/bin/python benchmarks/epoch_time.py --smoke         # seconds; checks the script runs
    python benchmarks/epoch_time.py --device cuda --methods mima  # MIMA on a GPU (peak: float32 8192³ there)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CITE, cite_like, dense_flops, log, matmul_peak_gflops, stdout_to_stderr, write_record  # noqa: E402

#: The study's CITE-seq settings (DESIGN §3).
MIMA_MODEL = {"beta_poe": 0.1}
MIMA_MODALITIES = {"rna": {"beta": 0.001}}
BATCH_SIZE = 128
SMOKE = {"n_cells": 300, "n_genes": 700, "n_proteins": 20, "n_batches": 3}
METHODS = ("mima", "totalvi", "scvi")


def best_after_first(seconds: list[float]) -> float:
    """Fastest epoch after the first (the first pays for warm-up)."""
    return float(min(seconds[1:] if len(seconds) > 1 else seconds))


def time_mima(mdata, epochs: int, threads: int, seed: int, device: str = "cpu") -> dict:
    """Train MIMA ``epochs`` epochs on ``device``; per-epoch seconds and the model."""
    from mima.api import MIMA

    model = MIMA.setup(mdata, ["rna", "adt"], model_params=MIMA_MODEL, modality_params=MIMA_MODALITIES, seed=seed)
    result = model.train(mdata, {"max_epochs": epochs, "min_steps": 0, "batch_size": BATCH_SIZE, "seed": seed,
                                 "num_threads": threads, "device": device, "progress": False})
    return {"epoch_seconds": result.epoch_seconds, "model": model,
            "n_train": int(result.train_indices.size), "n_validation": int(result.validation_indices.size)}


def epoch_timer():
    """A Lightning callback whose ``seconds`` lists each training epoch's
    wall time (scvi-tools runs validation inside the epoch)."""
    from lightning.pytorch.callbacks import Callback

    class EpochTimer(Callback):
        def __init__(self):
            self.seconds, self._start = [], 0.0

        def on_train_epoch_start(self, trainer, module):
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def time_scvi_tools(mdata, epochs: int, threads: int, seed: int, methods: list[str]) -> dict:
    """Per-epoch seconds of totalVI and of scVI per modality, built as the
    pipeline's adapters build them."""
    import scvi

    from mima.methods import scvi as scvi_adapter
    from mima.methods import totalvi as totalvi_adapter

    common = {"max_epochs": epochs, "batch_size": BATCH_SIZE}
    seconds = {}
    if "totalvi" in methods:
        scvi_adapter.configure(seed, threads)
        counts = totalvi_adapter.model_input(mdata)
        scvi.model.TOTALVI.setup_mudata(counts, batch_key="batch",
                                        modalities={"rna_layer": "rna", "protein_layer": "adt"})
        model = scvi.model.TOTALVI(counts, n_latent=100, gene_likelihood="nb")
        timer = epoch_timer()
        model.train(**scvi_adapter.train_kwargs(common), callbacks=[timer])
        seconds["totalvi"] = timer.seconds
    if "scvi" in methods:
        for modality in ("rna", "adt"):
            scvi_adapter.configure(seed, threads)
            adata, likelihood = scvi_adapter.model_input(mdata, modality)
            scvi.model.SCVI.setup_anndata(adata, batch_key="batch")
            model = scvi.model.SCVI(adata, n_latent=100, n_hidden=128, n_layers=1, gene_likelihood=likelihood)
            timer = epoch_timer()
            model.train(**scvi_adapter.train_kwargs(common), callbacks=[timer])
            seconds[f"scvi_{modality}"] = timer.seconds
    return seconds


def ablation(model, mdata, steps: int, seed: int) -> dict[str, float]:
    """Milliseconds per MIMA training step with its optimisations switched
    off cumulatively: the dense reference, then fused Adam, sparse input
    rows, and the loss without reconstructions (= MIMA as it ships)."""
    import torch

    from mima.model.module import MIMAModule
    from mima.train.data import minibatch_rows

    data = model.arrays(mdata)
    variants = {
        "dense_reference": {"fused": False, "sparse": False, "errors": "dense"},
        "fused_adam": {"fused": True, "sparse": False, "errors": "dense"},
        "fused_adam_sparse_input": {"fused": True, "sparse": True, "errors": "dense"},
        "mima": {"fused": True, "sparse": True, "errors": "auto"},
    }
    rows = list(minibatch_rows(np.arange(data.n_cells), BATCH_SIZE, (seed, 0)))
    warmup = 3
    rows = (rows * (1 + (steps + warmup) // max(len(rows), 1)))[:steps + warmup]
    out = {}
    for name, variant in variants.items():
        torch.manual_seed(seed)
        module = MIMAModule(model.config)
        module.error_method = variant["errors"]
        module.train()
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-4, fused=variant["fused"] or None)
        cpu = torch.device("cpu")
        for i, chunk in enumerate(rows):
            if i == warmup:
                start = time.perf_counter()
            x, batch_index, present = data.minibatch(chunk, cpu, sparse=variant["sparse"])
            loss, _ = module.loss(x, batch_index, present)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        out[name] = round(1e3 * (time.perf_counter() - start) / steps, 2)
        log(f"ablation {name}: {out[name]} ms/step")
    return out


def profile_steps(model, mdata, steps: int, seed: int, top: int = 15) -> list[dict]:
    """Torch profiler's top operators (self CPU time) over ``steps`` MIMA
    training steps, grouped by input shapes."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mima.train.data import minibatch_rows
    from mima.train.trainer import make_optimizer

    data = model.arrays(mdata)
    module = model.module
    module.train()
    cpu = torch.device("cpu")
    optimizer = make_optimizer(module, 1e-4, cpu)
    rows = list(minibatch_rows(np.arange(data.n_cells), BATCH_SIZE, (seed, 1)))[:steps + 2]

    def step(chunk):
        x, batch_index, present = data.minibatch(chunk, cpu)
        loss, _ = module.loss(x, batch_index, present)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for chunk in rows[:2]:
        step(chunk)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for chunk in rows[2:]:
            step(chunk)
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    n = max(len(rows) - 2, 1)
    return [{"op": e.key, "shapes": str(e.input_shapes)[:120], "calls_per_step": round(e.count / n, 2),
             "self_ms_per_step": round(e.self_cpu_time_total / 1e3 / n, 3),
             "share": round(e.self_cpu_time_total / total, 4)} for e in ranked]


def main(argv=None) -> dict:
    """Run the benchmark; returns the record it wrote."""
    with stdout_to_stderr():  # scvi-tools and Lightning print to stdout
        record = measure(argv)
    return write_record("epoch_time", record)


def measure(argv=None) -> dict:
    """Parse the arguments, time the methods, return the record's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per method (the first is warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--ablation", action="store_true", help="time MIMA steps with optimisations off")
    parser.add_argument("--ablation-steps", type=int, default=20)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N MIMA training steps")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, 2 epochs: checks that the script runs")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where MIMA trains and the matmul peak is measured (scvi-tools: its own choice)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and (args.ablation or args.profile):
        parser.error("--ablation and --profile time the CPU path; leave them out with --device cuda")

    import torch

    torch.set_num_threads(args.threads)
    full = {"n_cells": args.cells, **{k: CITE[k] for k in ("n_genes", "n_proteins", "n_batches")}}
    shapes = dict(SMOKE) if args.smoke else full
    epochs = 2 if args.smoke else args.epochs
    peak_size = 256 if args.smoke else (8192 if args.device == "cuda" else 2048)
    peaks = [matmul_peak_gflops(peak_size, threads=args.threads, device=args.device)]
    log(f"matmul peak {peaks[0]:.1f} GFLOP/s; generating {shapes}")
    mdata = cite_like(seed=args.seed, **shapes)

    seconds: dict[str, list[float]] = {}
    extra: dict = {}
    if "mima" in args.methods:
        log("MIMA")
        mima = time_mima(mdata, epochs, args.threads, args.seed, args.device)
        seconds["mima"] = mima["epoch_seconds"]
        flops = dense_flops(mima["model"].config, mima["n_train"], mima["n_validation"])
        if args.ablation:
            steps = 2 if args.smoke else args.ablation_steps
            extra["ablation_ms_per_step"] = ablation(mima["model"], mdata, steps, args.seed)
        if args.profile:
            extra["profile"] = profile_steps(mima["model"], mdata, args.profile, args.seed)
    others = [m for m in args.methods if m != "mima"]
    if others:
        log(f"scvi-tools: {others}")
        seconds.update(time_scvi_tools(mdata, epochs, args.threads, args.seed, others))
    peaks.append(matmul_peak_gflops(peak_size, threads=args.threads, device=args.device))

    per_epoch = {name: round(best_after_first(values), 3) for name, values in seconds.items()}
    if "scvi_rna" in per_epoch:
        per_epoch["scvi"] = round(per_epoch["scvi_rna"] + per_epoch["scvi_adt"], 3)
    record = {
        "smoke": args.smoke, "device": args.device, "shapes": shapes, "batch_size": BATCH_SIZE, "epochs": epochs,
        "threads": args.threads,
        "seconds_per_epoch": per_epoch,
        "epoch_seconds_all": {name: [round(v, 3) for v in values] for name, values in seconds.items()},
        "matmul_peak_gflops": round(max(peaks), 1), "matmul_peak_gflops_runs": [round(p, 1) for p in peaks],
    }
    if "mima" in per_epoch:
        record["ratio_to_mima"] = {name: round(value / per_epoch["mima"], 3) for name, value in per_epoch.items()}
        ideal = flops["epoch"] / (max(peaks) * 1e9)
        record.update({
            "n_train": mima["n_train"], "n_validation": mima["n_validation"],
            "dense_gflop_per_epoch": round(flops["epoch"] / 1e9, 2),
            "dense_ideal_seconds": float(f"{ideal:.4g}"),
            "efficiency": round(ideal / per_epoch["mima"], 4),
            "mima_dense_equivalent_gflops": round(flops["epoch"] / 1e9 / per_epoch["mima"], 1),
        })
        goals = {"efficiency_at_least_0.6": record["efficiency"] >= 0.6}
        if "totalvi" in per_epoch:
            goals["mima_at_most_half_totalvi"] = per_epoch["mima"] <= 0.5 * per_epoch["totalvi"]
        record["goals_met"] = goals
    record.update(extra)
    return record


if __name__ == "__main__":
    main()
