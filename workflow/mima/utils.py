"""Small helpers for the pipeline's scripts: logs and run records."""

from __future__ import annotations

import logging
import sys


def log_to(path: str) -> None:
    """Send stdout, stderr and logging of this process to ``path``
    (line-buffered, so a killed job's log is complete up to the kill)."""
    stream = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
