"""Progress lines for work that can take hours (training a competitor at
the study's size, a multi-GB download): at most one line every
:data:`EVERY_S` seconds, and always the last one, so a log shows a long job
moving without flooding a short one."""

from __future__ import annotations

import logging
import time

#: seconds between two progress lines
EVERY_S = 30.0


class ProgressLog:
    """Log ``<what>: <done> of <total> <unit> (<s> s)<detail>`` as work advances.

    Parameters
    ----------
    logger
        Where the lines go (INFO).
    what
        What is advancing, e.g. ``training totalvi``.
    total
        The planned amount (None when unknown).
    unit
        Its unit, e.g. ``epochs``.
    every
        Seconds between two lines (the last one is always logged).
    """

    def __init__(self, logger: logging.Logger, what: str, total: float | None, unit: str, every: float = EVERY_S):
        self.logger, self.what, self.total, self.unit, self.every = logger, what, total, unit, every
        self.started = time.monotonic()
        self.last: float | None = None
        self.logged: float | None = None

    def step(self, done: float, detail: str = "", last: bool = False) -> bool:
        """Report that ``done`` is reached; returns whether a line was logged.

        A line is logged when ``every`` seconds have passed since the previous
        one (or since the start), when ``done`` reaches ``total``, or when
        ``last`` is set.
        """
        now = time.monotonic()
        finished = last or (self.total is not None and done >= self.total)
        if done == self.logged or (not finished and now - (self.last or self.started) < self.every):
            return False
        self.last, self.logged = now, done
        of = f" of {self.total:g}" if self.total is not None else ""
        self.logger.info("%s: %g%s %s (%.0f s)%s", self.what, done, of, self.unit, now - self.started,
                         f", {detail}" if detail else "")
        return True
