"""Download files of a Zenodo record with ``zenodo_get``, verified by md5.

:func:`zenodo_download` runs ``zenodo_get`` (an argv list, never a shell) to
fetch the record's published md5s and the missing files into a staging
folder, checks every file against the md5 the record publishes (and the
manifest's, which must agree) and only then moves it under its final name.
Failures are :class:`mima.data.download.DownloadError` or, for a missing
tool or a bad record id / file name, :class:`mima.errors.InputError`.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from shutil import which

from .download import DownloadError, file_digests
from mima.errors import InputError


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
    return path.is_file() and file_digests(path, ["md5"])["md5"] == md5


def _verify_and_move(url: str, staged: Path, dest: Path, md5: str) -> None:
    if not staged.is_file():
        raise DownloadError(url, dest, "zenodo_get did not produce this file",
                            "check the file name against the record's file list")
    actual = file_digests(staged, ["md5"])["md5"]
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
