"""Peak memory, time and file size of writing MIMA's outputs
(``mima.outputs.write_outputs``, rule ``mima_outputs``) against the number
of cells.

For each of ``--cells`` (default 20,000 and 69,249: the study's multiome
set) a subprocess generates a multiome-shaped prepared dataset (13,431
genes + 40,110 ATAC bins, sparse CSR ``X`` and a ``counts`` layer that
must not be read; ``common.multiome_like``) and writes it as
``prepared.h5mu``; another subprocess builds an untrained MIMA of the
study's sizes (latent 100, hidden [300, 300]; the outputs' cost does not
depend on the weights' values) and writes ``outputs.h5mu`` within
``--memory-mb``, reporting its own peak resident memory (``VmHWM``), its
seconds and the file's size. The peak must not grow with the cells; the
size is cells × (13,431 + 40,110) × 3 layers × 4 bytes.

``--compression`` also writes the first 2,048 cells of each written layer
uncompressed, with gzip (level 4) and with lzf, and reports size ratio and
write / read seconds (why the outputs are stored uncompressed).

Prints ONE JSON line (and appends it to ``benchmarks/out/mima_outputs_memory.jsonl``).

Usage::

    .venv/bin/python benchmarks/mima_outputs_memory.py                      # 20,000 and 69,249 cells
    .venv/bin/python benchmarks/mima_outputs_memory.py --cells 5000 20000 --compression
    .venv/bin/python benchmarks/mima_outputs_memory.py --smoke
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "mima_outputs_memory"
SMOKE = {"cells": [300, 600], "n_genes": 700, "n_bins": 1500, "n_batches": 3}


def generate(path: str, n_cells: int, n_genes: int, n_bins: int, n_batches: int) -> None:
    """Child: write a multiome-shaped prepared dataset (with counts)."""
    data = common.multiome_like(n_cells, n_genes=n_genes, n_bins=n_bins, n_batches=n_batches, keep_counts=True)
    data.write_h5mu(path)


def outputs(data_path: str, out_path: str, memory_mb: float) -> dict:
    """Child: write the outputs of an untrained study-sized model; report peak RSS."""
    import torch

    from mima.api import MIMA
    from mima.data.h5mu_rows import H5muRows
    from mima.model.config import ModalityConfig, ModelConfig

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    with H5muRows(data_path) as reader:
        features = {m: list(map(str, reader.var(m).index)) for m in reader.mod}
        batches = sorted(map(str, reader.obs["batch"].unique()))
    config = ModelConfig(modalities=[ModalityConfig(name=m, n_features=len(f)) for m, f in features.items()],
                         n_batches=len(batches))
    model = MIMA(config, batches, features)
    before = common.peak_rss_mb()["self"]
    start = time.perf_counter()
    model.write_outputs(data_path, out_path, memory_mb=memory_mb)
    seconds = time.perf_counter() - start
    return {"peak_rss_mb": common.peak_rss_mb()["self"], "peak_rss_mb_before_writing": before,
            "seconds": round(seconds, 1), "file_bytes": Path(out_path).stat().st_size,
            "expected_layer_bytes": int(sum(3 * len(f) for f in features.values()) * 4 * reader.n_obs)}


def compression(out_path: str, rows: int = 2048) -> dict:
    """Size ratio and seconds of gzip / lzf against none on real output rows."""
    import h5py

    from mima.data.h5_layers import chunk_shape

    result = {}
    with h5py.File(out_path, "r") as file, tempfile.TemporaryDirectory() as tmp:
        for m in file["mod"]:
            block = file[f"mod/{m}/layers/denoised"][:rows]
            for name, options in (("none", {}), ("gzip4", {"compression": "gzip", "compression_opts": 4}),
                                  ("lzf", {"compression": "lzf"})):
                path = Path(tmp) / f"{m}_{name}.h5"
                start = time.perf_counter()
                with h5py.File(path, "w") as out:
                    out.create_dataset("x", data=block, chunks=chunk_shape(*block.shape), **options)
                write = time.perf_counter() - start
                start = time.perf_counter()
                with h5py.File(path, "r") as back:
                    back["x"][:]
                read = time.perf_counter() - start
                result[f"{m}_{name}"] = {"bytes": path.stat().st_size, "write_s": round(write, 3),
                                         "read_s": round(read, 3)}
            for name in ("gzip4", "lzf"):
                result[f"{m}_{name}"]["ratio"] = round(result[f"{m}_{name}"]["bytes"] / result[f"{m}_none"]["bytes"], 3)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[20_000, common.MULTIOME["n_cells"]])
    parser.add_argument("--n-genes", type=int, default=common.MULTIOME["n_genes"])
    parser.add_argument("--n-bins", type=int, default=common.MULTIOME["n_bins"])
    parser.add_argument("--n-batches", type=int, default=common.MULTIOME["n_batches"])
    parser.add_argument("--memory-mb", type=float, default=512)
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--workdir", help="where the data and outputs go (default: a temporary folder, removed)")
    parser.add_argument("--smoke", action="store_true", help=f"tiny case {SMOKE}, seconds")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        with common.stdout_to_stderr():
            if args.child[0] == "generate":
                generate(args.child[1], *map(int, args.child[2:]))
                result = {}
            else:
                result = outputs(args.child[1], args.child[2], float(args.child[3]))
        print(json.dumps(result))
        return result
    if args.smoke:
        args.cells, args.n_genes, args.n_bins, args.n_batches = (SMOKE[k] for k in
                                                                 ("cells", "n_genes", "n_bins", "n_batches"))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mima_outputs_"))
    work.mkdir(parents=True, exist_ok=True)
    runs = {}
    try:
        for n in args.cells:
            data, out = work / f"prepared_{n}.h5mu", work / f"outputs_{n}.h5mu"
            common.log(f"generating {n} cells")
            code, _, _ = common.run_child([sys.executable, __file__, "--child", "generate", str(data), str(n),
                                           str(args.n_genes), str(args.n_bins), str(args.n_batches)])
            if code:
                raise RuntimeError(f"generating {n} cells failed ({code})")
            common.log(f"writing the outputs of {n} cells")
            code, stdout, maxrss = common.run_child([sys.executable, __file__, "--child", "outputs", str(data),
                                                     str(out), str(args.memory_mb)])
            if code:
                raise RuntimeError(f"outputs of {n} cells failed ({code})")
            runs[str(n)] = {**json.loads(stdout.strip().splitlines()[-1]), "ru_maxrss_mb": round(maxrss, 1),
                            "prepared_bytes": data.stat().st_size}
            if args.compression and n == args.cells[-1]:
                runs["compression"] = compression(str(out))
            data.unlink()
            out.unlink()
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    peaks = [runs[str(n)]["peak_rss_mb"] for n in args.cells]
    record = {"smoke": args.smoke,
              "settings": {"cells": args.cells, "n_genes": args.n_genes, "n_bins": args.n_bins,
                           "n_batches": args.n_batches, "memory_mb": args.memory_mb},
              "runs": runs, "peak_rss_mb": dict(zip(map(str, args.cells), peaks, strict=True)),
              "peak_growth_mb": round(peaks[-1] - peaks[0], 1), "compression": runs.pop("compression", None)}
    return common.write_record(NAME, record)


if __name__ == "__main__":
    main()
