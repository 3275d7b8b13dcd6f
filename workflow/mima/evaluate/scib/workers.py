"""Threads and worker processes of the scIB metrics.

``n_jobs`` caps BLAS / OpenMP (threadpoolctl) and numba threads of the
process (:func:`thread_limits`) and is the number of worker processes of
kBET and Leiden (:func:`parallel`; their workers use one BLAS thread each;
kBET's ARPACK always runs on one), from :data:`PARALLEL_MIN_CELLS` cells
on. jax (LISI, PCR, the k-means++ initialisation) keeps its own thread
pool. The pipeline passes the rule's ``threads``. The values do not depend
on ``n_jobs``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numba

#: Below this many cells Leiden and kBET stay in-process: starting worker
#: processes (~3 s) costs more than it saves.
PARALLEL_MIN_CELLS = 50_000


def n_workers(n_jobs: int | None) -> int:
    """Cores that ``n_jobs`` asks for.

    Parameters
    ----------
    n_jobs
        A positive count, or None / a negative number for every core this
        process may use.

    Returns
    -------
    int
        At least 1.
    """
    if n_jobs is None or n_jobs < 0:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            return os.cpu_count() or 1
    return max(1, int(n_jobs))


@contextmanager
def thread_limits(n_threads: int):
    """Cap the BLAS / OpenMP and numba threads of this process.

    Parameters
    ----------
    n_threads
        Threads allowed inside the ``with`` block; the previous settings
        are restored on exit.
    """
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        numba.set_num_threads(previous)


def parallel(function, tasks: list, n_jobs: int) -> list:
    """``[function(*task) for task in tasks]``, in ``n_jobs`` processes
    when ``n_jobs > 1`` (each worker then uses one BLAS thread)."""
    if n_jobs <= 1 or len(tasks) <= 1:
        return [function(*task) for task in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=min(n_jobs, len(tasks)))(delayed(function)(*task) for task in tasks)
