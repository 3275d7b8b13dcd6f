"""The failure contract (DESIGN §2), in one place.

A step that fails still writes its declared output, so that every other
result, table and figure is built and shows the failure:

- an AnnData / MuData output carries ``uns['status']`` (``"ok"`` or
  ``"failed"``) and, when failed, ``uns['reason']`` (one line);
- a trained-model folder that holds no model holds ``failure.json`` with
  the reason instead;
- a table row carries the columns ``status`` and ``reason``.

Files written before this module existed may lack ``uns['status']``; they
read as ``"ok"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

OK = "ok"
FAILED = "failed"
#: Columns every long-format table carries for the contract.
STATUS_COLUMNS = ["status", "reason"]
#: Written into a model folder instead of a model.
FAILURE_FILE = "failure.json"


def mark_ok(data) -> None:
    """Mark an AnnData / MuData as a successful result."""
    data.uns["status"] = OK
    data.uns.pop("reason", None)


def mark_failed(data, reason: str) -> None:
    """Mark an AnnData / MuData as a failure record with its one-line ``reason``."""
    data.uns["status"] = FAILED
    data.uns["reason"] = str(reason)


def is_ok(data) -> bool:
    """Whether an AnnData / MuData is a successful result (not a failure record)."""
    return str(data.uns.get("status", OK)) == OK


def reason(data) -> str:
    """The recorded reason of a failure record ("" for a successful result)."""
    return "" if is_ok(data) else str(data.uns.get("reason", ""))


def failed_outputs(mdata, why: str, rows=None):
    """A MuData failure record shaped like ``mdata``: the same modalities and
    cells (``rows``: a boolean mask or index selecting cells; default all),
    no features.

    Parameters
    ----------
    mdata
        The dataset whose outputs failed.
    why
        One-line reason.
    rows
        Cells to keep (e.g. a fold's held-out cells).
    """
    import mudata

    selection = slice(None) if rows is None else rows
    record = mudata.MuData({m: mdata.mod[m][selection, :0].copy() for m in mdata.mod})
    mark_failed(record, why)
    return record


def write_failure(directory: str | os.PathLike, why: str) -> Path:
    """Record in ``directory`` (instead of a model) that training failed."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / FAILURE_FILE).write_text(json.dumps({"status": FAILED, "reason": str(why)}))
    return directory


def read_failure(directory: str | os.PathLike) -> str | None:
    """The reason recorded by :func:`write_failure`, or ``None`` for a model."""
    path = Path(directory) / FAILURE_FILE
    return json.loads(path.read_text())["reason"] if path.exists() else None


def row_status(why: str | None = None) -> dict[str, str]:
    """The status columns of a table row: ``ok`` (``why`` is ``None``), or
    ``failed`` with the one-line reason ``why``."""
    return {"status": OK, "reason": ""} if why is None else {"status": FAILED, "reason": str(why)}


def ok_rows(table):
    """Boolean mask of a table's successful rows (every row when the table
    has no ``status`` column)."""
    import pandas as pd

    if "status" not in table:
        return pd.Series(True, index=table.index)
    return table["status"].astype(str) == OK


def failed_rows(table):
    """The rows of a table that record a failure."""
    return table[~ok_rows(table)]


def _h5_status(path: Path) -> tuple[str, str]:
    """``(status, reason)`` of an .h5ad / .h5mu, read from its ``uns`` only."""
    import h5py

    def text(value) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    with h5py.File(path, "r") as file:
        uns = file.get("uns")
        if uns is None or "status" not in uns:
            return OK, ""
        return text(uns["status"][()]), text(uns["reason"][()]) if "reason" in uns else ""


def recorded_failures(results: str | os.PathLike, datasets) -> list[dict]:
    """Every failure recorded under ``results`` for ``datasets``, with what
    to delete so that the next run redoes the work.

    Looks at MIMA's model folders (``mima/model``, ``mima/cv/<fold>/model``:
    to delete with the checkpoint folder beside each, an unreadable
    checkpoint being a common cause, and the model's first consumer,
    ``embeddings/mima.h5ad`` / the fold's ``heldout_scores.h5mu``) and at
    every method's embeddings (``embeddings/<method>.h5ad``; MIMA's are
    listed with its model).

    Returns
    -------
    list of dict
        ``{dataset, what, reason, delete}`` (``delete``: paths, as strings).
    """
    failures = []
    for dataset in datasets:
        base = Path(results) / str(dataset)
        models = [base / "mima" / "model", *sorted((base / "mima" / "cv").glob("*/model"))]
        for model in models:
            why = read_failure(model) if model.is_dir() else None
            if why is not None:
                main = model.parent.name == "mima"
                what = "mima" if main else f"mima (4CV fold {model.parent.name})"
                # the model's first consumer too: Snakemake does not remake a deleted input whose consumers'
                # outputs exist
                first_use = base / "embeddings" / "mima.h5ad" if main else model.parent / "heldout_scores.h5mu"
                delete = [path for path in (model, model.parent / ".ckpt", first_use) if path.exists()]
                failures.append({"dataset": str(dataset), "what": what, "reason": why,
                                 "delete": [str(path) for path in delete]})
        mima_failed = any(f["what"] == "mima" and f["dataset"] == str(dataset) for f in failures)
        for path in sorted((base / "embeddings").glob("*.h5ad")):
            if path.stem == "mima" and mima_failed:
                continue
            status, why = _h5_status(path)
            if status != OK:
                failures.append({"dataset": str(dataset), "what": path.stem, "reason": why, "delete": [str(path)]})
    return failures


def failure_summary(failures: list[dict]) -> str:
    """The lines printed at the end of a run that recorded failures ("" if none)."""
    if not failures:
        return ""
    lines = [f"{len(failures)} method run(s) recorded as failed (the tables and figures show them as failed):"]
    for failure in failures:
        lines.append(f"  {failure['dataset']}: {failure['what']}: {failure['reason']}")
        lines.append(f"    to redo it: fix the cause, delete {' '.join(failure['delete'])}, then rerun snakemake")
    return "\n".join(lines)
