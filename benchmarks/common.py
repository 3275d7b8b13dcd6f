"""Shared helpers of the benchmarks: machine description, JSON-line output,
peak memory, float32 matmul peak and sparse synthetic data.

Every benchmark prints ONE JSON line on stdout (logs go to stderr) and
appends the same line to ``benchmarks/out/<name>.jsonl`` (git-ignored), so
results accumulate across runs and machines.

Synthetic data are shaped like the study's NeurIPS 2021 BMMC sets and are
generated sparsely, a chunk of cells at a time (never dense at full size):
genes with log-normal mean expression rescaled to a target fraction of
non-zeros, cells with log-normal size factors, counts ``1 + Poisson`` where
detected. They carry no biology; they have the shapes, sparsity and value
ranges that set the cost of training.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"

#: Shapes of the study's data (NeurIPS 2021 BMMC, GSE194122).
CITE = {"n_cells": 90_261, "n_genes": 13_953, "n_proteins": 134, "n_batches": 12, "rna_density": 0.08}
MULTIOME = {"n_cells": 69_249, "n_genes": 13_431, "n_bins": 40_110, "n_batches": 13,
            "rna_density": 0.08, "atac_density": 0.034}
#: Rows generated at once; bounds the dense scratch memory of the generator.
CHUNK_CELLS = 1024


# --------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def git_commit(root: Path = ROOT) -> str | None:
    """Commit of the checkout, read from ``.git`` without running git
    (``None`` outside a repository)."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (root / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        for base in (git, _common_dir(git)):
            if (base / ref).is_file():
                return (base / ref).read_text().strip()
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
    except OSError:
        pass
    return None


def _common_dir(git: Path) -> Path:
    common = git / "commondir"
    return (git / common.read_text().strip()).resolve() if common.is_file() else git


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU model, cores, torch threads, RAM, load, versions and git commit.

    Returns
    -------
    dict
        ``machine`` (cpu, cores, cores_usable, torch_threads, ram_gb,
        load_average, platform, cuda), ``versions`` (python, torch, numpy,
        scipy, scvi-tools, mima-pipeline) and ``git_commit``.
    """
    try:  # the scib env has no torch
        import torch
    except ImportError:
        torch = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "machine": {
            "cpu": _cpu_model(), "cores": os.cpu_count(), "cores_usable": usable,
            "torch_threads": torch.get_num_threads() if torch else None, "ram_gb": _ram_gb(),
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch and torch.cuda.is_available() else None,
        },
        "versions": {
            "python": platform.python_version(),
            **{p: _version(p) for p in ("torch", "numpy", "scipy", "scvi-tools", "mima-pipeline")},
        },
        "git_commit": git_commit(),
    }


def write_record(name: str, record: dict, out_dir: Path | None = None) -> dict:
    """Print ``record`` (with the machine description and a timestamp) as one
    JSON line on stdout and append it to ``<out_dir>/<name>.jsonl``.

    Parameters
    ----------
    name
        Benchmark name; also the file name.
    record
        The benchmark's figures (JSON-serialisable).
    out_dir
        Folder of the ``.jsonl`` files; default ``benchmarks/out``
        (environment variable ``MIMA_BENCHMARK_OUT`` overrides it).

    Returns
    -------
    dict
        The full record written.
    """
    full = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **machine_info(), **record}
    line = json.dumps(full)
    out_dir = Path(out_dir or os.environ.get("MIMA_BENCHMARK_OUT", OUT))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{name}.jsonl", "a") as fh:
        fh.write(line + "\n")
    print(line, flush=True)
    return full


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to stdout (file descriptor 1, so also what
    libraries' own handlers print) to stderr inside the block, keeping
    stdout for the JSON line."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def log(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON line)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- memory


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its waited-for children.

    ``self`` is the high-water mark of this process's own address space
    (``VmHWM`` in ``/proc/self/status``). ``ru_maxrss`` would be wrong for
    a subprocess: Linux carries the parent's resident size at fork/exec
    into the child's ``ru_maxrss``, so a child spawned by a large parent
    reports at least the parent's size. ``ru_maxrss`` serves only where
    ``/proc`` is absent.

    Returns
    -------
    dict
        ``self`` and ``children`` in MB (``children``: the largest waited-for
        child as the kernel reports it, with the caveat above).
    """
    scale = 1024 if sys.platform != "darwin" else 1024**2  # ru_maxrss: KiB on Linux, bytes on macOS
    hwm = _proc_status_kb("VmHWM")
    own = hwm / 1024 if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    return {
        "self": round(own, 1),
        "children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale, 1),
    }


def run_child(argv: list[str], env: dict | None = None) -> tuple[int, str, float]:
    """Run a command; return its exit code, its stdout and its ``ru_maxrss``.

    The ``ru_maxrss`` is that child's alone (``os.wait4``), but it includes
    this process's resident size when the child was spawned (see
    :func:`peak_rss_mb`); keep the parent small or let the child report
    its own ``VmHWM``.

    Returns
    -------
    returncode, stdout, ru_maxrss_mb
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as out:
        process = subprocess.Popen(argv, stdout=out, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    scale = 1024 if sys.platform != "darwin" else 1024**2
    return process.returncode, stdout, round(usage.ru_maxrss / scale, 1)


# ---------------------------------------------------------------------- matmul


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, threads: int | None = None, device: str = "cpu") -> float:
    """Best float32 ``n x n @ n x n`` throughput of torch on this machine.

    Parameters
    ----------
    n
        Matrix size (2048: large enough to reach the BLAS peak).
    repeats
        Timed products; the fastest counts (the machine may be shared).
    threads
        Torch threads during the measurement (``None``: the current setting).
    device
        ``cpu`` or ``cuda`` (timed with synchronisation; TF32 as torch's
        current setting, off by default).

    Returns
    -------
    float
        GFLOP/s, counting ``2 n³`` floating-point operations per product.
    """
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=generator).to(device)
        b = torch.randn(n, n, generator=generator).to(device)
        sync = torch.cuda.synchronize if a.is_cuda else (lambda: None)
        a @ b  # warm-up: thread pool, BLAS dispatch
        sync()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            sync()
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return 2 * n**3 / best / 1e9


# ------------------------------------------------------------------------ data


def _gene_means(n_features: int, density: float, rng: np.random.Generator) -> np.ndarray:
    """Per-feature mean counts, log-normal, scaled so that the expected
    fraction of non-zeros (``1 - exp(-mean)`` per feature) is ``density``."""
    raw = rng.lognormal(mean=0.0, sigma=1.5, size=n_features)
    low, high = 1e-6, 1e3
    for _ in range(60):  # bisection on the scale
        scale = np.sqrt(low * high)
        if np.mean(1.0 - np.exp(-raw * scale)) < density:
            low = scale
        else:
            high = scale
    return (raw * np.sqrt(low * high)).astype(np.float32)


@dataclass
class SparseCounts:
    """Counts and model input of one synthetic count modality, CSR float32."""

    counts: sp.csr_matrix
    x: sp.csr_matrix


def sparse_counts(n_cells: int, n_features: int, density: float, seed: int, transform: str = "log_normalize",
                  chunk: int = CHUNK_CELLS) -> SparseCounts:
    """Sparse synthetic counts with realistic per-feature detection rates.

    Parameters
    ----------
    n_cells, n_features
        Shape.
    density
        Expected fraction of non-zeros.
    seed
        Seed; each chunk of cells has its own stream, so the data do not
        depend on ``chunk``'s memory but only on the seed and shape.
    transform
        Model input: ``log_normalize`` (total counts to 10,000, then log1p,
        as the pipeline does for RNA) or ``log1p`` (ATAC bins).
    chunk
        Cells generated at once (dense scratch of ``chunk x n_features``).

    Returns
    -------
    SparseCounts
        ``counts`` and the model input ``x``, both CSR float32 with the same
        sparsity pattern.
    """
    means = _gene_means(n_features, density, np.random.default_rng([seed, 0]))
    size = np.random.default_rng([seed, 1]).lognormal(0.0, 0.4, n_cells).astype(np.float32)
    size /= np.mean(size)
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    data_parts, index_parts = [], []
    for start in range(0, n_cells, chunk):
        stop = min(start + chunk, n_cells)
        rng = np.random.default_rng([seed, 2, start])
        rate = means[None, :] * size[start:stop, None]
        detected = rng.random(rate.shape, dtype=np.float32) < -np.expm1(-rate)
        rows, cols = np.nonzero(detected)
        values = 1.0 + rng.poisson(rate[rows, cols]).astype(np.float32)
        indptr[start + 1:stop + 1] = indptr[start] + np.cumsum(np.bincount(rows, minlength=stop - start))
        data_parts.append(values)
        index_parts.append(cols.astype(np.int32))
    data = np.concatenate(data_parts)
    del data_parts
    indices = np.concatenate(index_parts)
    del index_parts
    index_dtype = np.int32 if indptr[-1] < 2**31 else np.int64
    counts = sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=(n_cells, n_features))
    if transform == "log_normalize":
        totals = np.asarray(counts.sum(axis=1)).ravel()
        scale = np.repeat((1e4 / np.maximum(totals, 1.0)).astype(np.float32), np.diff(counts.indptr))
        values = np.log1p(data * scale)
    elif transform == "log1p":
        values = np.log1p(data)
    else:
        raise ValueError(f"transform must be log_normalize or log1p, got {transform!r}")
    x = sp.csr_matrix((values.astype(np.float32), counts.indices, counts.indptr), shape=counts.shape)
    return SparseCounts(counts, x)


def dense_counts(n_cells: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Protein-like (ADT) counts, mostly non-zero, and their log1p input."""
    rng = np.random.default_rng([seed, 3])
    means = rng.lognormal(3.0, 1.0, n_features).astype(np.float32)
    counts = rng.negative_binomial(2, 2 / (2 + means), size=(n_cells, n_features)).astype(np.float32)
    return counts, np.log1p(counts)


def batch_codes(n_cells: int, n_batches: int, seed: int) -> np.ndarray:
    """Sample of each cell, unequal sample sizes."""
    rng = np.random.default_rng([seed, 4])
    return rng.choice(n_batches, size=n_cells, p=rng.dirichlet(np.full(n_batches, 5.0)))


def cite_like(n_cells: int, seed: int = 0, n_genes: int = CITE["n_genes"], n_proteins: int = CITE["n_proteins"],
              n_batches: int = CITE["n_batches"], rna_density: float = CITE["rna_density"]):
    """CITE-seq-shaped MuData: ``rna`` (log-normalised, CSR) and ``adt``
    (log1p, dense), raw counts in ``layers['counts']``, ``obs['batch']``."""
    rna = sparse_counts(n_cells, n_genes, rna_density, seed)
    adt_counts, adt_x = dense_counts(n_cells, n_proteins, seed)
    return _mudata({"rna": (rna.x, rna.counts), "adt": (adt_x, adt_counts)}, batch_codes(n_cells, n_batches, seed))


def multiome_like(n_cells: int, seed: int = 0, n_genes: int = MULTIOME["n_genes"], n_bins: int = MULTIOME["n_bins"],
                  n_batches: int = MULTIOME["n_batches"], rna_density: float = MULTIOME["rna_density"],
                  atac_density: float = MULTIOME["atac_density"], keep_counts: bool = False):
    """Multiome-shaped MuData: ``rna`` (log-normalised) and ``atac`` (5 kb
    bins, log1p), both CSR; counts only with ``keep_counts`` (they double the
    memory and MIMA does not read them)."""
    rna = sparse_counts(n_cells, n_genes, rna_density, seed)
    atac = sparse_counts(n_cells, n_bins, atac_density, seed + 1, transform="log1p")
    mods = {"rna": (rna.x, rna.counts if keep_counts else None), "atac": (atac.x, atac.counts if keep_counts else None)}
    del rna, atac
    return _mudata(mods, batch_codes(n_cells, n_batches, seed))


def _mudata(mods: dict, codes: np.ndarray):
    import anndata as ad
    import mudata as md
    import pandas as pd

    names = pd.Index([f"cell{i}" for i in range(codes.shape[0])])
    adatas = {}
    for name, (x, counts) in mods.items():
        adata = ad.AnnData(x, obs=pd.DataFrame(index=names),
                           var=pd.DataFrame(index=[f"{name}_{j}" for j in range(x.shape[1])]))
        if counts is not None:
            adata.layers["counts"] = counts
        adatas[name] = adata
    with md.set_options(pull_on_update=False):
        mdata = md.MuData(adatas)
    mdata.obs["batch"] = pd.Categorical([f"sample{c}" for c in codes])
    return mdata


# ----------------------------------------------------------------------- flops


def _linear_shapes(config) -> dict[str, dict]:
    """Per modality: the encoder's (in, out) maps, the number of them that
    read the input itself, the decoder's maps, and the decodings per cell."""
    shapes = {}
    n_modalities = len(config.modalities)
    for m in config.modalities:
        widths = [m.n_features, *m.hidden]
        trunk = list(zip(widths[:-1], widths[1:]))
        n_trunk = widths[-1]
        heads = [(n_trunk, 2 * config.latent_dim), (n_trunk, 2 * config.n_batches * config.latent_dim)]
        if config.shared:
            heads.append((n_trunk, 2 * config.latent_dim))
        mirrored = [config.latent_dim, *reversed(m.hidden), m.n_features]
        shapes[m.name] = {
            "encoder": trunk + heads,
            # the first maps of the encoder that read the data need no input gradient
            "reads_input": 1 if trunk else len(heads),
            "decoder": list(zip(mirrored[:-1], mirrored[1:])),
            "decodings": 1 + (n_modalities if config.shared else 0),  # private, PoE, translations
        }
    return shapes


def dense_flops(config, n_train: int, n_validation: int) -> dict[str, float]:
    """Floating-point operations of one epoch of a plain dense implementation
    of the model, counted from the layer shapes (matmuls only).

    Per cell, each linear map ``in x out`` costs ``2 in out`` forward; a
    training cell adds as much for the weight gradient and as much again
    for the input gradient, except where the input is the data (the
    encoder's first layer). Every decoding the loss needs runs the decoder
    (private, PoE and each translation). Validation cells run forward only.

    Parameters
    ----------
    config
        A :class:`mima.model.config.ModelConfig`.
    n_train, n_validation
        Cells in the training and the validation pass.

    Returns
    -------
    dict
        ``forward_per_cell``, ``train_per_cell`` and ``epoch`` FLOPs.
    """
    forward = train = 0.0
    for layers in _linear_shapes(config).values():
        encoder = [2.0 * i * o for i, o in layers["encoder"]]
        decoder = [2.0 * i * o * layers["decodings"] for i, o in layers["decoder"]]
        forward += sum(encoder) + sum(decoder)
        train += 3 * (sum(encoder) + sum(decoder)) - sum(encoder[:layers["reads_input"]])
    return {"forward_per_cell": forward, "train_per_cell": train, "epoch": n_train * train + n_validation * forward}
