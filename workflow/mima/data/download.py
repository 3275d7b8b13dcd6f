"""Verified HTTP / local-file downloads with a mirror fallback.

The one rule of this module: a file appears under its final name only once
it is complete and its checksum verifies. Transfers stream into
``<name>.part`` next to the destination and are moved into place with
:func:`os.replace`; every failure deletes the ``.part`` file and raises
:class:`DownloadError`.

Checksums (DESIGN.md section 6): files are verified against the md5 / sha256
given (Zenodo's published md5s: :mod:`mima.data.zenodo`). GEO publishes none,
so the first download of a GEO file records its sha256 in a lock file
(:mod:`mima.data.checksum_lock`) and every later download is verified
against that entry. The GEO files are split into modalities by
:func:`mima.data.geo.split_geo_multimodal`.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, url2pathname, urlopen

from mima.errors import InputError

from ..progress import ProgressLog
from .checksum_lock import read_lock_file, record_sha256

log = logging.getLogger(__name__)
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


def download(url: str, dest: os.PathLike | str, md5: str | None = None, sha256: str | None = None,
             lock_file: os.PathLike | str | None = None, timeout: float = 60, lock_key: str | None = None) -> Path:
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
        the suffix is ``.yaml``/``.yml``) lock file, keyed by ``lock_key``.
        Without an entry, the first successful download records its sha256
        there (atomically, under a file lock); with one, the download must
        match it.
    timeout
        Socket timeout in seconds for network transfers.
    lock_key
        The lock file's key of this file (default ``dest.name``).

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
    key = lock_key or dest.name
    locked = read_lock_file(lock_file).get(key) if lock_file is not None else None
    expected = _expected_digests(url, dest, md5, sha256, locked, lock_file, key)
    needs_record = lock_file is not None and locked is None
    if dest.is_file():
        if not needs_record and not _mismatches(file_digests(dest, expected), expected):
            return dest
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        digests = _fetch(url, dest, part, timeout)
        _verify(url, dest, digests, expected, lock_file, key)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if needs_record:
        _record_or_verify_lock(lock_file, url, dest, digests["sha256"], key)
        log.info("recorded the sha256 of %s (%s) in %s: a later download must match it", key, digests["sha256"],
                 lock_file)
    elif locked:
        log.info("verified %s against the sha256 recorded in %s", key, lock_file)
    return dest


def _record_or_verify_lock(lock_file, url: str, dest: Path, sha256: str, key: str) -> None:
    """Record ``key -> sha256``; if another process recorded it first, verify against that."""
    recorded = record_sha256(lock_file, key, sha256)
    if recorded.strip().lower() != sha256:
        dest.unlink(missing_ok=True)
        raise DownloadError(url, dest, f"checksum mismatch (sha256 expected {recorded} got {sha256}, "
                            f"recorded meanwhile in {Path(lock_file)}); nothing was kept", _URL_FIX)


def fetch_from_mirror_or_url(name: str, mirror_dir: os.PathLike | str | None, url: str,
                             dest: os.PathLike | str, md5: str | None = None, sha256: str | None = None,
                             lock_file: os.PathLike | str | None = None, timeout: float = 60,
                             lock_key: str | None = None) -> Path:
    """Copy ``name`` from a local mirror folder if it is there, else download ``url``.

    Either way the file goes through :func:`download` (``.part`` file,
    checksum and lock-file verification), so a mirror copy is verified too.

    Parameters
    ----------
    name
        File name looked up in ``mirror_dir``.
    mirror_dir
        Local mirror folder, or None / empty to always download.
    url, dest, md5, sha256, lock_file, timeout, lock_key
        As in :func:`download`.

    Returns
    -------
    pathlib.Path
        ``dest``.
    """
    if mirror_dir:
        candidate = Path(mirror_dir) / name
        if candidate.is_file():
            return download(str(candidate), dest, md5=md5, sha256=sha256, lock_file=lock_file, timeout=timeout,
                            lock_key=lock_key)
    return download(url, dest, md5=md5, sha256=sha256, lock_file=lock_file, timeout=timeout, lock_key=lock_key)


def _expected_digests(url: str, dest: Path, md5: str | None, sha256: str | None,
                      locked: str | None, lock_file, key: str) -> dict[str, str]:
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
                                f"correct the manifest, or delete the entry for {key} in {lock_file}")
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
        progress = ProgressLog(log, f"downloading {dest.name}", None if expected_size is None
                               else round(expected_size / 2**20, 1), "MB")
        with source, open(part, "wb") as sink:
            while chunk := source.read(_CHUNK):
                sink.write(chunk)
                received += len(chunk)
                for digest in hashes.values():
                    digest.update(chunk)
                progress.step(round(received / 2**20, 1))
        progress.step(round(received / 2**20, 1), last=True)
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


def file_digests(path: os.PathLike | str, algorithms: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    """Hex digests of a local file, read in chunks.

    Parameters
    ----------
    path
        The file.
    algorithms
        :mod:`hashlib` algorithm names (e.g. ``["md5"]``), or a mapping
        keyed by them (its values are ignored).

    Returns
    -------
    dict
        ``{algorithm: hex digest}``.
    """
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            for digest in hashes.values():
                digest.update(chunk)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def _mismatches(actual: Mapping[str, str], expected: Mapping[str, str]) -> list[str]:
    return [name for name, value in expected.items() if actual[name] != value]


def _verify(url: str, dest: Path, actual: Mapping[str, str], expected: Mapping[str, str], lock_file,
            key: str | None = None) -> None:
    bad = _mismatches(actual, expected)
    if not bad:
        return
    details = ", ".join(f"{name} expected {expected[name]} got {actual[name]}" for name in bad)
    fix = _URL_FIX
    if lock_file is not None and "sha256" in bad:
        fix = (f"{_URL_FIX}; if the published file legitimately changed, delete the entry for "
               f"{key or dest.name} in {lock_file} and re-run")
    raise DownloadError(url, dest, f"checksum mismatch ({details}); nothing was kept", fix)
