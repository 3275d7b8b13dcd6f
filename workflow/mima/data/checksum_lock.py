"""The checksum lock file: ``filename -> sha256`` for sources that publish no checksum.

GEO publishes no checksums, so the first download of a GEO file records its
sha256 here and every later download is verified against that entry (see
:func:`mima.data.download.download`). The lock file is TSV
(``filename<TAB>sha256``) or YAML (``filename: sha256``, when its suffix is
``.yaml``/``.yml``). This module reads it and adds entries to it: each
update holds an exclusive file lock (where :mod:`fcntl` exists) and replaces
the file atomically, so concurrent downloads never lose or tear an entry.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from mima.errors import InputError

try:
    import fcntl
except ImportError:  # Windows: lock-file updates are then only atomic, not serialised.
    fcntl = None


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml")


def read_lock_file(lock_file: os.PathLike | str) -> dict[str, str]:
    """Read a checksum lock file; a missing or empty file has no entries.

    Parameters
    ----------
    lock_file
        YAML mapping ``filename: sha256`` (suffix ``.yaml``/``.yml``), else a
        TSV of ``filename<TAB>sha256`` lines; blank lines, ``#`` comments and
        a ``filename<TAB>sha256`` header are skipped.

    Returns
    -------
    dict
        ``{filename: sha256}``.
    """
    path = Path(lock_file)
    if not path.is_file():
        return {}
    text = path.read_text()
    if _is_yaml(path):
        try:
            entries = yaml.safe_load(text) or {}  # safe: a python/object tag is refused, never run
        except yaml.YAMLError as error:
            detail = " ".join(str(error).split())[:200]
            raise InputError(path, "lock file", f"is not plain YAML ({detail})",
                             "fix or delete the lock file (it is rebuilt on the next downloads)") from error
        if not isinstance(entries, dict):
            raise InputError(path, "lock file", "is not a mapping of filename: sha256",
                             "fix or delete the lock file (it is rebuilt on the next downloads)")
        return {str(name): str(value) for name, value in entries.items()}
    return _parse_tsv_lock(path, text)


def _parse_tsv_lock(path: Path, text: str) -> dict[str, str]:
    entries = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 2:
            raise InputError(path, f"line {number}", f"expected 'filename<TAB>sha256', got {line!r}",
                             "fix the line or delete it (it is re-recorded on the next download)")
        if fields == ["filename", "sha256"]:
            continue
        entries[fields[0].strip()] = fields[1].strip()
    return entries


def record_sha256(lock_file: os.PathLike | str, name: str, sha256: str) -> str:
    """Record ``name -> sha256`` in the lock file unless an entry for ``name`` exists.

    The read and the write happen under an exclusive lock on the file, so of
    concurrent first downloads exactly one records its hash; the file is
    replaced atomically (existing TSV text and comments are kept).

    Parameters
    ----------
    lock_file
        The lock file (see :func:`read_lock_file`); it and its parent folders
        are created if missing.
    name
        File name to record.
    sha256
        Its hex digest.

    Returns
    -------
    str
        The entry now in force: ``sha256`` if it was recorded by this call,
        else the one another process recorded first (as written there, not
        normalised), which the caller must compare with ``sha256``.
    """
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(path):
        entries = read_lock_file(path)
        recorded = entries.get(name)
        if recorded is None:
            _atomic_write(path, _lock_text_with(path, entries, name, sha256))
            return sha256
    return recorded


def set_sha256(lock_file: os.PathLike | str, name: str, sha256: str) -> None:
    """Set ``name``'s sha256 in ``lock_file``, replacing any recorded one
    (for files this project writes itself, e.g. the rehearsal's stand-ins);
    the update is atomic and serialised with other writers of the file."""
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(path):
        entries = {**(read_lock_file(path) if path.stat().st_size else {}), name: sha256}
        if _is_yaml(path):
            _atomic_write(path, yaml.safe_dump(entries, sort_keys=True))
        else:
            _atomic_write(path, "filename\tsha256\n" + "".join(f"{key}\t{entries[key]}\n" for key in sorted(entries)))


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) while updating it."""
    if fcntl is None:
        yield
        return
    while True:
        handle = open(path, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        # Each update replaces the file: a lock taken on the old inode does not count.
        try:
            current = os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:
            break
        handle.close()
    try:
        yield
    finally:
        handle.close()


def _atomic_write(path: Path, text: str) -> None:
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name + ".", suffix=".tmp",
                                         delete=False)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # NamedTemporaryFile is private (0600); the lock file is a shared project file.
        os.chmod(handle.name, os.stat(path).st_mode & 0o777 if path.exists() else 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _lock_text_with(path: Path, entries: dict[str, str], name: str, sha256: str) -> str:
    """The lock file's new text with one more entry."""
    if _is_yaml(path):
        return yaml.safe_dump({**entries, name: sha256}, sort_keys=True)
    # TSV: keep the existing text (and its comments), append one line.
    text = path.read_text() if path.is_file() else ""
    if not text.strip():
        text = "# sha256 recorded on first download (the source publishes no checksum)\nfilename\tsha256\n"
    if not text.endswith("\n"):
        text += "\n"
    return f"{text}{name}\t{sha256}\n"
