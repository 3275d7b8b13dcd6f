"""Atomic writers of h5ad / h5mu files.

:func:`write_h5mu_atomic` and :func:`write_h5ad_atomic` write into a hidden
temporary file in the destination's folder and rename it into place only
once it is complete, so a final name never holds a partial file (a crash or
a full disk leaves at most a hidden ``.<name>.*.tmp`` file). Every h5ad /
h5mu the pipeline writes goes through them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import anndata as ad
import mudata as md

__all__ = ["default_mode", "write_atomic", "write_h5mu_atomic", "write_h5ad_atomic", "write_text_atomic"]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once (reading it means setting it).
_UMASK = _read_umask()


def default_mode(folder: bool = False) -> int:
    """The mode a new file (0666) or folder (0777) gets, less the umask:
    what a temp file or folder made private by :mod:`tempfile` is given
    before it is renamed into place."""
    return (0o777 if folder else 0o666) & ~_UMASK


def write_atomic(path, write, suffix: str = "", mode: int | None = None) -> None:
    """Write through ``write(tmp_path)`` into a temp file beside ``path``,
    then rename it into place (missing parent folders are created). The
    file gets ``mode``, by default a new file's usual mode (0666 less the
    umask; the temp file itself is private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, default_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        # Remove the partial file; the original at ``path`` (if any) is untouched.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_h5mu_atomic(mdata: md.MuData, path: str | os.PathLike, then=None) -> None:
    """Write ``mdata`` to ``path`` atomically.

    The data are written to a temporary file in the same folder, which is
    renamed over ``path`` only once complete; on failure the temporary file
    is removed and an existing ``path`` is left as it was.

    Parameters
    ----------
    mdata
        The data to write.
    path
        Destination ``.h5mu`` path; missing parent folders are created.
    then
        Optional ``then(temporary_path)``, run on the written temporary file
        before it is renamed (e.g. to append big matrices block by block).
    """

    def write(tmp):
        mdata.write_h5mu(tmp)
        if then is not None:
            then(tmp)

    write_atomic(path, write, ".h5mu")


def write_h5ad_atomic(adata: ad.AnnData, path: str | os.PathLike) -> None:
    """Write ``adata`` to ``path`` atomically (see :func:`write_h5mu_atomic`).

    Parameters
    ----------
    adata
        The data to write.
    path
        Destination ``.h5ad`` path; missing parent folders are created.
    """
    write_atomic(path, lambda tmp: adata.write_h5ad(tmp), ".h5ad")


def write_text_atomic(path: str | os.PathLike, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` atomically, readable by others (``mode``),
    as the project's small text files are (locks, record listings)."""

    write_atomic(path, lambda tmp: Path(tmp).write_text(text), ".txt", mode)
