"""Verified downloads (the GEO files are split into modalities by
:func:`mima.data.geo.split_geo_multimodal`).

The one rule of this module: a file appears under its final name only once
it is complete and its checksum verifies. Transfers stream into
``<name>.part`` next to the destination and are moved into place with
:func:`os.replace`; every failure deletes the ``.part`` file.

Checksums (DESIGN.md section 6): Zenodo files are verified against the md5
the record publishes. GEO publishes none, so the first download of a GEO file
records its sha256 in a lock file (TSV or YAML, ``filename -> sha256``) and
every later download is verified against that entry.
"""

from __future__ import annotations

import glob
import hashlib
import http.client
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from shutil import which
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, url2pathname, urlopen

import yaml

from mima.errors import InputError

try:
    import fcntl
except ImportError:  # Windows: lock-file updates are then only atomic, not serialised.
    fcntl = None

_CHUNK = 1 << 20
_URL_FIX = "check the URL / data_mirror in config.yaml, then re-run"
_RETRY_FIX = "re-run the download (the partial file was deleted); check the network or the mirror"


class DownloadError(InputError):
    """A download failed or did not verify; nothing was left under the final name.

    A subclass of :class:`~mima.errors.InputError` (the URL, mirror and
    checksums are configuration), so one handler reports every bad input.

    Parameters
    ----------
    url
        Where the file was fetched from.
    dest
        The file that was to be written.
    problem
        What went wrong (with expected and actual checksums where relevant).
    fix
        What the user should do.
    """

    def __init__(self, url: str, dest: os.PathLike | str, problem: str, fix: str):
        super().__init__(str(url), str(dest), problem, fix)
        self.url = str(url)
        self.dest = Path(dest)


# --------------------------------------------------------------------------
# download()
# --------------------------------------------------------------------------


def download(url: str, dest: os.PathLike | str, md5: str | None = None, sha256: str | None = None,
             lock_file: os.PathLike | str | None = None, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest``, verified, never leaving a partial file.

    The data stream into ``dest.name + '.part'``; only once the transfer is
    complete (every byte of the announced Content-Length) and every known
    checksum matches is it moved to ``dest`` with :func:`os.replace`. On any
    failure the ``.part`` file is deleted and :class:`DownloadError` raised.

    Parameters
    ----------
    url
        ``http(s)://`` or ``file://`` URL, or a plain local path (a mirror).
    dest
        Final file path; parent folders are created.
    md5, sha256
        Expected hex digests, if known.
    lock_file
        TSV (``filename<TAB>sha256``) or YAML (``filename: sha256``, when
        the suffix is ``.yaml``/``.yml``) lock file, keyed by ``dest.name``.
        Without an entry, the first successful download records its sha256
        there (atomically, under a file lock); with one, the download must
        match it.
    timeout
        Socket timeout in seconds for network transfers.

    Returns
    -------
    pathlib.Path
        ``dest``. If ``dest`` already exists and matches every known checksum
        it is returned untouched (no transfer). An existing ``dest`` that
        fails verification is deleted and downloaded again. With no checksum
        known at all, an existing ``dest`` is kept as is, unless a
        ``lock_file`` needs its first entry, in which case it is downloaded
        again so that the recorded hash is the server's.

    Raises
    ------
    DownloadError
        HTTP error, unreachable server, interrupted transfer, checksum
        mismatch, or a lock-file entry contradicting ``sha256``.
    """
    url, dest = str(url), Path(dest)
    locked = read_lock_file(lock_file).get(dest.name) if lock_file is not None else None
    expected = _expected_digests(url, dest, md5, sha256, locked, lock_file)
    needs_record = lock_file is not None and locked is None
    if dest.is_file():
        if not needs_record and not _mismatches(_file_digests(dest, expected), expected):
            return dest
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        digests = _fetch(url, dest, part, timeout)
        _verify(url, dest, digests, expected, lock_file)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if needs_record:
        _record_or_verify_lock(lock_file, url, dest, digests["sha256"])
    return dest


def fetch_from_mirror_or_url(name: str, mirror_dir: os.PathLike | str | None, url: str,
                             dest: os.PathLike | str, md5: str | None = None, sha256: str | None = None,
                             lock_file: os.PathLike | str | None = None, timeout: float = 60) -> Path:
    """Copy ``name`` from a local mirror folder if it is there, else download ``url``.

    Either way the file goes through :func:`download` (``.part`` file,
    checksum and lock-file verification), so a mirror copy is verified too.

    Parameters
    ----------
    name
        File name looked up in ``mirror_dir``.
    mirror_dir
        Local mirror folder, or None / empty to always download.
    url, dest, md5, sha256, lock_file, timeout
        As in :func:`download`.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    if mirror_dir:
        candidate = Path(mirror_dir) / name
        if candidate.is_file():
            return download(str(candidate), dest, md5=md5, sha256=sha256, lock_file=lock_file, timeout=timeout)
    return download(url, dest, md5=md5, sha256=sha256, lock_file=lock_file, timeout=timeout)


def _expected_digests(url: str, dest: Path, md5: str | None, sha256: str | None,
                      locked: str | None, lock_file) -> dict[str, str]:
    """The digests a download must match: ``{'md5': ..., 'sha256': ...}`` as known."""
    expected = {}
    if md5:
        expected["md5"] = md5.strip().lower()
    if sha256:
        expected["sha256"] = sha256.strip().lower()
    if locked:
        locked = locked.strip().lower()
        if sha256 and expected["sha256"] != locked:
            raise DownloadError(url, dest, f"the given sha256 {expected['sha256']} contradicts the lock file "
                                f"{lock_file} entry {locked}",
                                f"correct the manifest, or delete the entry for {dest.name} in {lock_file}")
        expected["sha256"] = locked
    return expected


def _open_source(url: str, timeout: float):
    """Open ``url`` for reading: (binary stream, expected byte count or None)."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https", "ftp"):
        response = urlopen(Request(url, headers={"User-Agent": "mima-pipeline"}), timeout=timeout)
        length = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding") not in (None, "identity")
        return response, (int(length) if length and not encoded else None)
    is_file_url = parsed.scheme == "file"
    if parsed.scheme and not is_file_url and len(parsed.scheme) > 1:  # len 1: a Windows drive letter
        raise URLError(f"unsupported URL scheme {parsed.scheme!r}")
    path = Path(url2pathname(parsed.path)) if is_file_url else Path(url)
    handle = open(path, "rb")
    return handle, os.fstat(handle.fileno()).st_size


def _fetch(url: str, dest: Path, part: Path, timeout: float) -> dict[str, str]:
    """Stream ``url`` into ``part``; return its md5 and sha256. Raises DownloadError."""
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    received = 0
    try:
        source, expected_size = _open_source(url, timeout)
        with source, open(part, "wb") as sink:
            while chunk := source.read(_CHUNK):
                sink.write(chunk)
                received += len(chunk)
                for digest in hashes.values():
                    digest.update(chunk)
    except HTTPError as error:
        raise DownloadError(url, dest, f"HTTP error {error.code} ({error.reason})", _URL_FIX) from error
    except (http.client.IncompleteRead, ConnectionError, TimeoutError, http.client.HTTPException) as error:
        raise DownloadError(url, dest, f"transfer interrupted after {received} bytes ({error!r})",
                            _RETRY_FIX) from error
    except URLError as error:
        raise DownloadError(url, dest, f"cannot open the URL ({error.reason})", _URL_FIX) from error
    except FileNotFoundError as error:
        raise DownloadError(url, dest, "no such local file", _URL_FIX) from error
    # http.client does not raise when a server closes before Content-Length is reached.
    if expected_size is not None and received != expected_size:
        raise DownloadError(url, dest, f"transfer interrupted: received {received} of {expected_size} bytes",
                            _RETRY_FIX)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def _file_digests(path: Path, algorithms: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    """Hex digests of a local file for the given algorithm names."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            for digest in hashes.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def _mismatches(actual: Mapping[str, str], expected: Mapping[str, str]) -> list[str]:
    return [name for name, value in expected.items() if actual[name] != value]


def _verify(url: str, dest: Path, actual: Mapping[str, str], expected: Mapping[str, str], lock_file) -> None:
    bad = _mismatches(actual, expected)
    if not bad:
        return
    details = ", ".join(f"{name} expected {expected[name]} got {actual[name]}" for name in bad)
    fix = _URL_FIX
    if lock_file is not None and "sha256" in bad:
        fix = (f"{_URL_FIX}; if the published file legitimately changed, delete the entry for "
               f"{dest.name} in {lock_file} and re-run")
    raise DownloadError(url, dest, f"checksum mismatch ({details}); nothing was kept", fix)


# --------------------------------------------------------------------------
# Lock file (filename -> sha256)
# --------------------------------------------------------------------------


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


def _record_or_verify_lock(lock_file, url: str, dest: Path, sha256: str) -> None:
    """Record ``dest.name -> sha256``; if another process recorded it first, verify against that."""
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(path):
        entries = read_lock_file(path)
        recorded = entries.get(dest.name)
        if recorded is None:
            _atomic_write(path, _lock_text_with(path, entries, dest.name, sha256))
            return
    if recorded.strip().lower() != sha256:
        dest.unlink(missing_ok=True)
        raise DownloadError(url, dest, f"checksum mismatch (sha256 expected {recorded} got {sha256}, "
                            f"recorded meanwhile in {path}); nothing was kept", _URL_FIX)


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


# --------------------------------------------------------------------------
# Zenodo
# --------------------------------------------------------------------------


def _zenodo_get_command() -> list[str]:
    """argv prefix that runs zenodo_get; InputError if it is not installed."""
    search = os.pathsep.join(filter(None, [os.environ.get("PATH"), str(Path(sys.executable).parent)]))
    executable = which("zenodo_get", path=search)
    if executable:
        return [executable]
    if find_spec("zenodo_get") is not None:
        return [sys.executable, "-m", "zenodo_get"]
    raise InputError("zenodo_download", "zenodo_get", "the zenodo_get tool is not installed",
                     "pip install zenodo-get (or use the env file that lists it), or set data_mirror to a "
                     "folder holding the record's files")


def _run_command(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def _zenodo_record_number(record_id: str | int) -> str:
    text = str(record_id).strip()
    match = re.fullmatch(r"(?:(?:https?://doi\.org/)?10\.5281/zenodo\.)?(\d+)", text)
    if match is None:
        raise InputError("zenodo_download", "record_id", f"not a Zenodo record number or DOI: {text!r}",
                         "give the record number (e.g. 17369670) or DOI 10.5281/zenodo.17369670")
    return match.group(1)


def _read_md5sums(path: Path) -> dict[str, str]:
    """Parse zenodo_get's ``md5sums.txt`` (``<md5>  <filename>`` lines)."""
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        fields = line.strip().split(None, 1)
        if len(fields) == 2:
            entries[fields[1].lstrip("*")] = fields[0].lower()
    return entries


def zenodo_download(record_id: str | int, files: Sequence[str], dest_dir: os.PathLike | str,
                    md5s: Mapping[str, str] | None = None, *, command: Sequence[str] | None = None,
                    runner: Callable[[list[str]], None] | None = None) -> dict[str, Path]:
    """Download files of a Zenodo record with ``zenodo_get``, verified by md5.

    Steps: if every file is already in ``dest_dir`` and matches ``md5s``,
    nothing is run (re-runs work offline). Otherwise ``zenodo_get RECORD -m``
    writes the md5s the record publishes (``md5sums.txt``); files already in
    ``dest_dir`` that match are kept;
    the others are downloaded by ``zenodo_get RECORD -g NAME ...`` into a
    staging folder ``dest_dir/.zenodo-RECORD.part``, verified against both
    ``md5s`` and ``md5sums.txt`` (they must agree), and moved into
    ``dest_dir`` only when they match. zenodo_get is always called with an
    argv list, never through a shell.

    Parameters
    ----------
    record_id
        Record number (``17369670``) or DOI (``10.5281/zenodo.17369670``).
    files
        File names in the record to fetch.
    dest_dir
        Folder the files end up in.
    md5s
        Expected md5 per file name (e.g. from the project's manifest).
    command
        argv prefix running zenodo_get; found on PATH, next to the Python
        executable or as ``python -m zenodo_get`` when None.
    runner
        Called with each full argv; defaults to :func:`subprocess.run` with
        ``check=True``. Injectable for tests.

    Returns
    -------
    dict
        ``{file name: path in dest_dir}``.

    Raises
    ------
    InputError
        zenodo_get is not installed, or a bad record id / file name.
    DownloadError
        zenodo_get failed, a file is missing, no md5 is known for a file,
        or an md5 does not match (the mismatching file is deleted).
    """
    record = _zenodo_record_number(record_id)
    names = _checked_file_names(files)
    dest_dir = Path(dest_dir)
    md5s = {name: value.strip().lower() for name, value in (md5s or {}).items()}
    prefix = list(command) if command is not None else _zenodo_get_command()
    run = runner or _run_command
    url = f"https://zenodo.org/records/{record}"
    if all(name in md5s and _has_md5(dest_dir / name, md5s[name]) for name in names):
        return {name: dest_dir / name for name in names}  # nothing to fetch: works offline
    staging = dest_dir / f".zenodo-{record}.part"
    staging.mkdir(parents=True, exist_ok=True)

    _run_zenodo_get(run, [*prefix, record, "-m", "-o", str(staging), *_globs(names)], url, staging)
    published = _read_md5sums(staging / "md5sums.txt")
    expected = {name: _expected_md5(url, dest_dir / name, md5s.get(name), published.get(name)) for name in names}
    missing = [name for name in names if not _has_md5(dest_dir / name, expected[name])]
    if missing:
        _run_zenodo_get(run, [*prefix, record, "-o", str(staging), *_globs(missing)], url, staging)
        for name in missing:
            _verify_and_move(url, staging / name, dest_dir / name, expected[name])
    (staging / "md5sums.txt").unlink(missing_ok=True)
    _remove_if_empty(staging)
    return {name: dest_dir / name for name in names}


def _checked_file_names(files: Sequence[str]) -> list[str]:
    if isinstance(files, str):
        files = [files]
    names = [str(name) for name in files]
    if not names:
        raise InputError("zenodo_download", "files", "no files requested", "list the record's files to fetch")
    for name in names:
        if Path(name).name != name or name in (".", ".."):
            raise InputError("zenodo_download", "files", f"{name!r} is not a plain file name",
                             "list file names as they appear in the Zenodo record")
    return names


def _globs(names: Sequence[str]) -> list[str]:
    """``-g`` options selecting exactly these names (glob characters escaped)."""
    return [option for name in names for option in ("-g", glob.escape(name))]


def _run_zenodo_get(run: Callable[[list[str]], None], argv: list[str], url: str, staging: Path) -> None:
    try:
        run(argv)
    except subprocess.CalledProcessError as error:
        raise DownloadError(url, staging, f"zenodo_get failed with exit code {error.returncode}",
                            "check the network and the record id, then re-run "
                            "(files already fetched are resumed)") from error
    except FileNotFoundError as error:
        raise InputError("zenodo_download", "zenodo_get", f"cannot run {argv[0]!r}",
                         "pip install zenodo-get") from error


def _expected_md5(url: str, dest: Path, given: str | None, published: str | None) -> str:
    if given and published and given != published:
        raise DownloadError(url, dest, f"the record publishes md5 {published} but the manifest expects {given}",
                            "if the record was re-published, update the md5 in the manifest")
    if not (given or published):
        raise DownloadError(url, dest, "no md5 known (none given, none in zenodo_get's md5sums.txt)",
                            "add the record's md5 for this file to the manifest")
    return given or published


def _has_md5(path: Path, md5: str) -> bool:
    return path.is_file() and _file_digests(path, ["md5"])["md5"] == md5


def _verify_and_move(url: str, staged: Path, dest: Path, md5: str) -> None:
    if not staged.is_file():
        raise DownloadError(url, dest, "zenodo_get did not produce this file",
                            "check the file name against the record's file list")
    actual = _file_digests(staged, ["md5"])["md5"]
    if actual != md5:
        staged.unlink()
        raise DownloadError(url, dest, f"checksum mismatch (md5 expected {md5} got {actual}); nothing was kept",
                            "re-run the download; if it persists, check the record")
    os.replace(staged, dest)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
