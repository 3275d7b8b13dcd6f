"""Download the files of a Zenodo record, driven by the record's own file list.

Zenodo's REST API (InvenioRDM) describes a record at
``GET https://zenodo.org/api/records/<id>``: a JSON object whose ``files`` is
a list of ``{"key": name, "size": bytes, "checksum": "md5:<hex>",
"links": {"self": ".../api/records/<id>/files/<key>/content"}}``.
:func:`zenodo_download` reads that list first (from a data mirror's
``zenodo/<id>/record.json`` when there is one), checks the configured file
names against it (a wrong name stops with one line listing the record's
files), writes the record's canonical form (:func:`canonical_record`) to
``record.json`` and fetches each configured file with
:func:`mima.data.download.fetch_from_mirror_or_url`: a ``.part`` file,
verified against the md5 the record publishes, moved into place only then.
Files already present with the right md5 are kept without a transfer.

Older shapes of the record JSON are read too: ``filename`` / ``filesize``
for ``key`` / ``size``, a bare md5 for ``checksum``, ``links.download`` for
``links.self``, and InvenioRDM's ``files: {"entries": ...}``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlparse
from urllib.request import Request, urlopen

from mima.errors import InputError

from .atomic_write import write_text_atomic
from .download import DownloadError, fetch_from_mirror_or_url

__all__ = ["ZENODO_API", "record_number", "canonical_record", "read_record", "write_record", "zenodo_download"]

log = logging.getLogger(__name__)

#: Zenodo's records endpoint (``<ZENODO_API>/<id>`` is one record's JSON).
ZENODO_API = "https://zenodo.org/api/records"

_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MAX_LISTED = 40  # file names listed in an error message


def record_number(record_id: str | int) -> str:
    """The record number of a Zenodo record id or DOI.

    Parameters
    ----------
    record_id
        ``17369670``, ``"10.5281/zenodo.17369670"`` or its ``https://doi.org/`` URL.

    Returns
    -------
    str
        The digits, e.g. ``"17369670"``.

    Raises
    ------
    InputError
        Not a record number or Zenodo DOI.
    """
    text = str(record_id).strip()
    match = re.fullmatch(r"(?:(?:https?://doi\.org/)?10\.5281/zenodo\.)?(\d+)", text)
    if match is None:
        raise InputError("config.yaml", "record", f"not a Zenodo record number or DOI: {text!r}",
                         "give the record number (e.g. 17369670) or DOI 10.5281/zenodo.17369670")
    return match.group(1)


def _file_entries(data: Mapping, source: str) -> list[Mapping]:
    files = data.get("files")
    if isinstance(files, Mapping):  # InvenioRDM's own shape: {"enabled": ..., "entries": [...] or {key: {...}}}
        files = files.get("entries")
        if isinstance(files, Mapping):
            files = [{"key": key, **entry} for key, entry in files.items()]
    if not isinstance(files, list) or not files or not all(isinstance(f, Mapping) for f in files):
        raise InputError(source, "files", "the record lists no files (restricted, embargoed or not a record?)",
                         "check datasets.<name>.record, or put the record's JSON with its files list there")
    return files


def _checksum(value, source: str, key: str) -> str | None:
    """``algorithm:hex`` in lower case; a bare 32-hex digest is an md5."""
    if not value:
        return None
    text = str(value).strip().lower()
    if ":" not in text:
        if not _MD5.match(text):
            raise InputError(source, f"files[{key}].checksum", f"{value!r} is neither 'md5:<hex>' nor an md5",
                             "give the record's JSON as the Zenodo API returns it")
        return f"md5:{text}"
    return text


def canonical_record(data: Mapping, record: str | int, source: str,
                     api_url: str = ZENODO_API) -> dict:
    """The canonical, small form of a Zenodo record's JSON.

    Parameters
    ----------
    data
        The record's JSON as the API (or a mirror's ``record.json``) gives it.
    record
        The record number asked for; a JSON naming another record is refused.
    source
        Where ``data`` came from, for error messages.
    api_url
        Records endpoint used to build a file's URL when its entry has no link.

    Returns
    -------
    dict
        ``{"id": "<record>", "files": [{"key", "size", "checksum", "links":
        {"self": url}}, ...]}``, files sorted by key; ``size`` and
        ``checksum`` only where the record gives them. The same shape as
        the API's, so it can itself serve as a mirror's ``record.json``.

    Raises
    ------
    InputError
        The JSON is not an object, names another record, lists no files,
        a file has no name or a malformed checksum, or a name repeats.
    """
    record = record_number(record)
    if not isinstance(data, Mapping):
        raise InputError(source, "record", "is not a JSON object", "give the record's JSON as the Zenodo API returns it")
    found = data.get("id", data.get("recid"))
    if found is not None and str(found) != record:
        raise InputError(source, "id", f"is record {found}, not record {record}",
                         f"put record {record}'s JSON there, or correct datasets.<name>.record")
    files = {}
    for entry in _file_entries(data, source):
        key = entry.get("key") or entry.get("filename")
        if not isinstance(key, str) or not key:
            raise InputError(source, "files", "an entry has no key (file name)", "give the record's JSON as the API returns it")
        if key in files:
            raise InputError(source, f"files[{key}]", "the file is listed twice", "list each file of the record once")
        links = entry.get("links") if isinstance(entry.get("links"), Mapping) else {}
        url = links.get("self") or links.get("content") or links.get("download") \
            or f"{api_url.rstrip('/')}/{record}/files/{quote(key)}/content"
        canonical = {"key": key, "links": {"self": str(url)}}
        size = entry.get("size", entry.get("filesize"))
        if size is not None:
            canonical["size"] = int(size)
        checksum = _checksum(entry.get("checksum"), source, key)
        if checksum:
            canonical["checksum"] = checksum
        files[key] = canonical
    return {"id": record, "files": [files[key] for key in sorted(files)]}


def _read_json(location: str, record: str, record_json: Path, timeout: float):
    """Parse the JSON at a local path or URL; one-line errors."""
    is_url = urlparse(location).scheme in ("http", "https", "file")
    try:
        if is_url:
            request = Request(location, headers={"Accept": "application/json", "User-Agent": "mima-pipeline"})
            with urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8")
        else:
            text = Path(location).read_text(encoding="utf-8")
    except HTTPError as error:
        fix = (f"check datasets.<name>.record (record {record} does not exist or is not public)"
               if error.code in (404, 410) else "re-run later; check the network")
        raise DownloadError(location, record_json, f"HTTP error {error.code} ({error.reason}) reading the record",
                            fix) from error
    except (URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(location, record_json, f"cannot read the record ({reason})",
                            f"check the network, or set data_mirror to a folder holding zenodo/{record}/record.json "
                            "and the record's files") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(location, "record", f"is not JSON ({error.msg} at line {error.lineno})",
                         "give the record's JSON as the Zenodo API returns it") from error


def read_record(record_id: str | int, record_json: os.PathLike | str | None = None,
                mirror: os.PathLike | str | None = None, api_url: str = ZENODO_API,
                timeout: float = 60) -> tuple[dict, str]:
    """Read a Zenodo record's file list, offline where possible.

    Looked up in this order: ``record_json`` when it exists and holds this
    record (a previous download's copy: re-runs work offline), then
    ``<mirror>/zenodo/<record>/record.json``, then ``<api_url>/<record>``.

    Parameters
    ----------
    record_id
        Record number or DOI.
    record_json
        Where the downloads keep the record's canonical JSON.
    mirror
        The data mirror folder, or None.
    api_url
        Zenodo's records endpoint (a local server in tests).
    timeout
        Socket timeout in seconds.

    Returns
    -------
    tuple
        ``(canonical record, where it was read from)``.

    Raises
    ------
    DownloadError
        The record cannot be read (HTTP error, no network).
    InputError
        The JSON is malformed or names another record.
    """
    record = record_number(record_id)
    if record_json is not None and Path(record_json).is_file():
        try:
            cached = json.loads(Path(record_json).read_text(encoding="utf-8"))
            if isinstance(cached, Mapping) and str(cached.get("id")) == record:
                return canonical_record(cached, record, str(record_json), api_url), str(record_json)
        except (json.JSONDecodeError, InputError):
            pass  # a damaged copy is read again from its source
    source = f"{api_url.rstrip('/')}/{record}"
    mirrored = Path(mirror) / "zenodo" / record / "record.json" if mirror else None
    if mirrored is not None and mirrored.is_file():
        source = str(mirrored)
    data = _read_json(source, record, Path(record_json or "record.json"), timeout)
    return canonical_record(data, record, source, api_url), source


def write_record(record: Mapping, path: os.PathLike | str) -> Path:
    """Write a canonical record as JSON (sorted keys), atomically.

    Parameters
    ----------
    record
        :func:`canonical_record`'s result.
    path
        The ``record.json`` to write; parent folders are created.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def _listing(record: Mapping) -> str:
    names = [entry["key"] for entry in record["files"]]
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names)} files)" if len(names) > _MAX_LISTED else "")


def _checked_names(files: Mapping[str, str], dataset: str) -> dict[str, str]:
    if not isinstance(files, Mapping) or not files:
        raise InputError("config.yaml", f"datasets.{dataset}.files", "no files configured",
                         "give one file of the record per modality, {modality: file name}")
    for modality, name in files.items():
        name = str(name)
        if not name or Path(name).name != name or name in (".", ".."):
            raise InputError("config.yaml", f"datasets.{dataset}.files.{modality}",
                             f"{name!r} is not a plain file name", "name a file as the Zenodo record lists it")
    return {str(modality): str(name) for modality, name in files.items()}


def _md5_of(entry: Mapping, given: str | None, url: str, dest: Path, dataset: str) -> str:
    checksum = entry.get("checksum", "")
    published = checksum.split(":", 1)[1] if checksum.startswith("md5:") else None
    given = given.strip().lower() if given else None
    if given and published and given != published:
        raise DownloadError(url, dest, f"the record publishes md5 {published} but datasets.{dataset}.md5 "
                            f"expects {given}", f"correct or remove datasets.{dataset}.md5.{entry['key']}")
    if not (given or published):
        raise DownloadError(url, dest, f"the record publishes no md5 for this file (checksum {checksum or 'none'})",
                            f"add its md5 as datasets.{dataset}.md5.{entry['key']}")
    return given or published


def zenodo_download(record_id: str | int, files: Mapping[str, str], dest_dir: os.PathLike | str,
                    record_json: os.PathLike | str, *, dataset: str = "<name>",
                    mirror: os.PathLike | str | None = None, md5s: Mapping[str, str] | None = None,
                    api_url: str = ZENODO_API, timeout: float = 60) -> dict[str, Path]:
    """Download the configured files of a Zenodo record, verified by md5.

    1. The record's file list is read (:func:`read_record`: a previous
       ``record_json``, the mirror's ``zenodo/<record>/record.json``, or
       the API).
    2. Every configured name must be one of the record's files; otherwise
       :class:`~mima.errors.InputError` names the config key
       (``datasets.<dataset>.files.<modality>``) and lists the record's
       files, and nothing is written.
    3. The canonical record is written to ``record_json``.
    4. Each file is fetched from ``<mirror>/zenodo/<record>/<key>`` when
       present, else from the record's link, into ``dest_dir/<key>.part``,
       verified against the record's md5 and moved to ``dest_dir/<key>``.
       A file already there with the right md5 is kept as is.

    Parameters
    ----------
    record_id
        Record number (``17369670``) or DOI (``10.5281/zenodo.17369670``).
    files
        ``{modality: file name in the record}`` (``datasets.<dataset>.files``).
    dest_dir
        Folder the files end up in.
    record_json
        Where the record's canonical JSON is written.
    dataset
        The dataset's name in config.yaml, for error messages.
    mirror
        The data mirror folder, or None to read everything from Zenodo.
    md5s
        Optional expected md5 per file name (``datasets.<dataset>.md5``);
        each must equal the record's.
    api_url
        Zenodo's records endpoint (a local server in tests).
    timeout
        Socket timeout in seconds.

    Returns
    -------
    dict
        ``{modality: path in dest_dir}``.

    Raises
    ------
    InputError
        A configured name is not in the record, or the record is malformed.
    DownloadError
        The record or a file cannot be fetched, or an md5 does not match
        (the mismatching file is not kept).
    """
    record = record_number(record_id)
    names = _checked_names(files, dataset)
    dest_dir, record_json = Path(dest_dir), Path(record_json)
    listing, source = read_record(record, record_json, mirror, api_url, timeout)
    entries = {entry["key"]: entry for entry in listing["files"]}
    wrong = [modality for modality, name in names.items() if name not in entries]
    if wrong:
        first = wrong[0]
        others = f" (also datasets.{dataset}.files.{', '.join(wrong[1:])})" if wrong[1:] else ""
        raise InputError("config.yaml", f"datasets.{dataset}.files.{first}",
                         f"{names[first]!r} is not a file of Zenodo record {record}{others}; "
                         f"the record ({source}) holds: {_listing(listing)}",
                         f"set datasets.{dataset}.files.{first} to one of the record's files")
    write_record(listing, record_json)
    log.info("Zenodo record %s read from %s: %d files (%s); fetching %s", record, source, len(entries),
             _listing(listing), ", ".join(sorted(set(names.values()))))
    mirror_dir = Path(mirror) / "zenodo" / record if mirror else None
    md5s = dict(md5s or {})
    paths = {}
    for modality, name in names.items():
        entry, dest = entries[name], dest_dir / name
        url = entry["links"]["self"]
        md5 = _md5_of(entry, md5s.get(name), url, dest, dataset)
        paths[modality] = fetch_from_mirror_or_url(name, mirror_dir, url, dest, md5=md5, timeout=timeout)
        log.info("%s: %s (md5 %s verified)", modality, paths[modality], md5)
    return paths
