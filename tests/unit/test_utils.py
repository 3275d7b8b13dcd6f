"""mima.utils.dense: one way to densify a matrix that may be sparse; and
mima.utils.log_to: a job's log, which names the interpreter first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mima.utils import INTERPRETER_LINE, dense

WORKFLOW = Path(__file__).resolve().parents[2] / "workflow"

VALUES = np.array([[0.0, 1.5], [2.25, 0.0], [0.0, 0.0]], dtype=np.float64)


@pytest.mark.parametrize("make", [np.asarray, sp.csr_matrix, sp.csc_matrix, sp.csr_array],
                         ids=["ndarray", "csr", "csc", "csr_array"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_gives_the_values_in_the_asked_dtype(make, dtype):
    out = dense(make(VALUES), dtype)
    assert type(out) is np.ndarray and out.dtype == dtype
    np.testing.assert_array_equal(out, VALUES.astype(dtype))


def test_default_dtype_is_float32_and_none_keeps_the_input_dtype():
    assert dense(sp.csr_matrix(VALUES)).dtype == np.float32
    assert dense(sp.csr_matrix(VALUES.astype(np.int64)), dtype=None).dtype == np.int64
    assert dense(VALUES.astype(np.float16), dtype=None).dtype == np.float16


def test_an_array_of_the_asked_dtype_is_returned_as_is():
    assert dense(VALUES, np.float64) is VALUES
    assert dense(VALUES, None) is VALUES


def test_a_job_log_names_its_interpreter_first(tmp_path):
    """The first line of every job's log is the Python that ran the job
    (with --sdm conda, the env's): the conda test reads it."""
    log = tmp_path / "job.log"
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from mima.utils import log_to; log_to(sys.argv[1]); "
            "print('working')")
    subprocess.run([sys.executable, "-c", code, str(log), str(WORKFLOW)], check=True)
    assert log.read_text().splitlines() == [f"{INTERPRETER_LINE}{sys.executable}", "working"]
