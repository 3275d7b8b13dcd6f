"""Small helpers: logs and run records for the pipeline's scripts, and
:func:`dense` for matrices that may be sparse."""

from __future__ import annotations

import logging
import platform
import sys
import traceback
from importlib import metadata

import numpy as np

#: Packages whose versions every run records (``results/run_info/versions.tsv``).
RECORDED_PACKAGES = (
    "mima-pipeline", "snakemake", "numpy", "scipy", "pandas", "anndata", "mudata", "h5py", "torch",
    "scvi-tools", "scib-metrics", "scanpy", "scikit-learn", "imbalanced-learn", "harmonypy", "scanorama",
    "mofapy2", "jax", "jaxlib", "pyyaml", "jsonschema",
)

#: Start of the first line of every job's log; the interpreter's path follows.
INTERPRETER_LINE = "interpreter: "


def log_to(path: str) -> None:
    """Send stdout, stderr and logging of this process to ``path``
    (line-buffered, so a killed job's log is complete up to the kill).

    The log's first line names the interpreter running the job
    (:data:`INTERPRETER_LINE`, ``sys.executable``): with ``--sdm conda`` the
    ``python`` of the rule's env, otherwise the one running Snakemake.

    An uncaught exception's traceback goes to the log. A bad input
    (:class:`mima.errors.InputError`) also ends the log with its one-line
    message and repeats that line on the job's original stderr, which
    Snakemake shows, so the user reads one line naming the file, the field
    and the fix instead of a traceback.
    """
    stream = open(path, "w", buffering=1)
    print(f"{INTERPRETER_LINE}{sys.executable}", file=stream)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    sys.excepthook = _report_to(stream)


def _report_to(stream):
    """An excepthook writing tracebacks to ``stream`` and bad input as one line."""
    from .errors import InputError

    def report(exc_type, error, tb):
        traceback.print_exception(exc_type, error, tb, file=stream)
        if isinstance(error, InputError):
            line = " ".join(f"InputError: {error}".split())
            print(line, file=stream, flush=True)
            print(line, file=sys.__stderr__, flush=True)

    return report


def package_versions(packages=RECORDED_PACKAGES) -> dict[str, str]:
    """Versions of Python, the platform and the installed ``packages``.

    Read from the installed distributions' metadata (nothing is imported,
    so this is cheap enough to run at every workflow start-up).

    Parameters
    ----------
    packages
        Distribution names.

    Returns
    -------
    dict
        ``{name: version}``: ``python`` and ``platform`` first, then each
        package in the given order; ``not installed`` for a package that is
        absent from this environment.
    """
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def dense(matrix, dtype=np.float32) -> np.ndarray:
    """A matrix as a dense numpy array, whether it is sparse or not.

    Parameters
    ----------
    matrix
        A scipy sparse matrix or array, or anything :func:`numpy.asarray`
        accepts (a numpy array, an AnnData array view...).
    dtype
        dtype of the result (default float32); ``None`` keeps the input's.

    Returns
    -------
    numpy.ndarray
        ``np.asarray(matrix.toarray(), dtype)`` for sparse input, else
        ``np.asarray(matrix, dtype)``: the input itself, not a copy, when it
        already is an ndarray of ``dtype``.
    """
    import scipy.sparse as sp  # here, not at the top: the workflow imports this module at start-up

    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=dtype)
