"""Each benchmark script runs (--smoke: tiny shapes) and writes one JSON line
with the machine, the versions and its figures. Timings are not checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO

MACHINE_FIELDS = {"cpu", "cores", "cores_usable", "torch_threads", "ram_gb", "load_average"}
VERSION_FIELDS = {"python", "torch", "numpy", "scipy", "scvi-tools"}


def run_smoke(script: str, tmp_path, *args: str) -> dict:
    """Run ``benchmarks/<script> --smoke``; check the single JSON line on
    stdout and the copy appended under the output folder; return it."""
    env = dict(os.environ, MIMA_BENCHMARK_OUT=str(tmp_path))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--smoke", *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must hold only the JSON line, got: {done.stdout[:2000]}"
    record = json.loads(lines[0])
    name = script.removesuffix(".py")
    saved = (tmp_path / f"{name}.jsonl").read_text().splitlines()
    assert json.loads(saved[-1]) == record
    assert record["benchmark"] == name and record["smoke"] is True
    assert MACHINE_FIELDS <= set(record["machine"]) and VERSION_FIELDS <= set(record["versions"])
    assert "git_commit" in record and "time" in record
    return record


@pytest.mark.slow
def test_epoch_time_smoke(tmp_path):
    record = run_smoke("epoch_time.py", tmp_path, "--ablation", "--profile", "2")
    assert set(record["seconds_per_epoch"]) == {"mima", "totalvi", "scvi_rna", "scvi_adt", "scvi"}
    assert all(v > 0 for v in record["seconds_per_epoch"].values())
    assert record["ratio_to_mima"]["mima"] == 1.0
    assert record["matmul_peak_gflops"] > 0 and record["dense_gflop_per_epoch"] > 0
    ideal_over_mima = record["dense_ideal_seconds"] / record["seconds_per_epoch"]["mima"]
    assert record["efficiency"] == pytest.approx(ideal_over_mima, rel=0.02, abs=2e-3)
    assert set(record["goals_met"]) == {"efficiency_at_least_0.6", "mima_at_most_half_totalvi"}
    assert set(record["ablation_ms_per_step"]) == {"dense_reference", "fused_adam", "fused_adam_sparse_input", "mima"}
    assert record["profile"] and {"op", "self_ms_per_step", "share"} <= set(record["profile"][0])


@pytest.mark.slow
def test_scale_smoke(tmp_path):
    record = run_smoke("scale.py", tmp_path)
    epoch = record["epoch"]
    assert epoch["cells"] == [200, 400] and set(epoch["seconds_per_epoch"]) == {"200", "400"}
    assert epoch["linearity"] > 0 and epoch["time_ratio"] > 0
    for kind, shapes in (("multiome", {"rna", "atac"}), ("cite", {"rna", "adt"})):
        run = record["rss"][kind]
        assert set(run["data"]) == shapes
        assert run["steps"] == 3 and run["n_cells"] == run["shapes"]["n_cells"]
        assert run["peak_rss_mb"] >= run["peak_rss_mb_after_load"] > 0 and run["ru_maxrss_mb"] > 0
        assert run["seconds_per_step"] > 0 and run["extrapolated_epoch_seconds"] > 0


def test_dense_flops_counts_the_layer_shapes():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from common import dense_flops

    from mima.model.config import ModalityConfig, ModelConfig

    config = ModelConfig([ModalityConfig("rna", 1000, hidden=[30]), ModalityConfig("adt", 10)],
                         n_batches=2, latent_dim=5)
    # rna encoder 1000x30 then heads 30x(10 + 20 + 10); adt heads 10x(10 + 20 + 10);
    # each decoder runs three times (private, PoE, translation): rna 5x30, 30x1000; adt 5x10
    rna_encoder, adt_encoder = 1000 * 30 + 30 * 40, 10 * 40
    decoders = 3 * (5 * 30 + 30 * 1000 + 5 * 10)
    forward = 2 * (rna_encoder + adt_encoder + decoders)
    train = 3 * forward - 2 * (1000 * 30 + 10 * 40)  # no input gradient where the input is the data
    flops = dense_flops(config, n_train=8, n_validation=2)
    assert flops["forward_per_cell"] == forward
    assert flops["train_per_cell"] == train
    assert flops["epoch"] == 8 * train + 2 * forward


@pytest.mark.slow
def test_mima_outputs_memory_smoke(tmp_path):
    record = run_smoke("mima_outputs_memory.py", tmp_path, "--compression")
    assert set(record["peak_rss_mb"]) == {"300", "600"} and all(v > 0 for v in record["peak_rss_mb"].values())
    for run in record["runs"].values():
        assert run["file_bytes"] >= run["expected_layer_bytes"] > 0
    assert {"rna_gzip4", "atac_lzf"} <= set(record["compression"])
