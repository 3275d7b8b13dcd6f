"""Progress lines of long work (issue 18 §12): throttled, the last one
always logged, never twice; downloads report their megabytes."""

from __future__ import annotations

import logging
import math

from mima.data.download import download
from mima.progress import ProgressLog

LOGGER = "tests.progress"


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_only_the_last_step_is_logged_when_the_interval_never_passes(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    progress = ProgressLog(logging.getLogger(LOGGER), "training x", 5, "epochs", every=math.inf)
    logged = [progress.step(i) for i in range(1, 6)]
    assert logged == [False, False, False, False, True]
    assert len(messages(caplog)) == 1 and messages(caplog)[0].startswith("training x: 5 of 5 epochs (")
    assert not progress.step(5, last=True)  # the same point is never logged twice


def test_every_step_is_logged_with_no_interval_and_unknown_totals_say_so(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    progress = ProgressLog(logging.getLogger(LOGGER), "downloading f", None, "MB", every=0)
    for done in (1, 2, 3):
        progress.step(done, "fast")
    assert [m.split(" (")[0] for m in messages(caplog)] == [f"downloading f: {i} MB" for i in (1, 2, 3)]
    assert all(m.endswith(", fast") for m in messages(caplog))


def test_a_download_logs_its_size_when_done(tmp_path, caplog):
    source = tmp_path / "source.bin"
    source.write_bytes(b"\x01" * (3 * 2**20 + 5))
    caplog.set_level(logging.INFO, logger="mima.data.download")
    download(str(source), tmp_path / "copy.bin")
    lines = [r.getMessage() for r in caplog.records if r.name == "mima.data.download"]
    assert any(line.startswith("downloading copy.bin: 3 of 3 MB (") for line in lines), lines
