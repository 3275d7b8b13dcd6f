"""Unit tests of mima.data.download, mima.data.checksum_lock, mima.data.zenodo and
mima.data.geo.fetch_geo against a loopback HTTP server (a fake Zenodo record
API and GEO) and local mirror folders (no internet)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mima.data.checksum_lock import read_lock_file
from mima.data.download import DownloadError, download, fetch_from_mirror_or_url
from mima.data.geo import fetch_geo
from mima.data.zenodo import canonical_record, zenodo_download
from mima.errors import InputError

GOOD = b"MIMA test payload\n" * 1000
OTHER = b"a different file\n" * 1000


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server naming)
        self.server.hits.append(self.path)
        if self.path == "/truncated":
            # Announce 1000 bytes, send 500, hang up.
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 500)
            self.wfile.flush()
            self.close_connection = True
            return
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files = {"/good.bin": GOOD}
    httpd.hits = []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# --------------------------------------------------------------------------
# download()
# --------------------------------------------------------------------------


def test_good_file_with_right_checksums_lands(server, tmp_path):
    dest = tmp_path / "sub" / "good.bin"
    result = download(f"{server.url}/good.bin", dest, md5=md5(GOOD), sha256=sha256(GOOD), timeout=5)
    assert result == dest
    assert dest.read_bytes() == GOOD
    assert leftovers(dest.parent) == ["good.bin"]


def test_wrong_checksum_raises_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "good.bin"
    url = f"{server.url}/good.bin"
    wrong = md5(b"something else")
    with pytest.raises(DownloadError) as caught:
        download(url, dest, md5=wrong, timeout=5)
    message = str(caught.value)
    assert isinstance(caught.value, InputError)
    assert url in message and wrong in message and md5(GOOD) in message and "fix:" in message
    assert "\n" not in message
    assert leftovers(tmp_path) == []  # neither good.bin nor good.bin.part


def test_wrong_sha256_raises_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="sha256"):
        download(f"{server.url}/good.bin", tmp_path / "good.bin", sha256="0" * 64, timeout=5)
    assert leftovers(tmp_path) == []


def test_http_404_raises_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download(f"{server.url}/missing.bin", tmp_path / "missing.bin", timeout=5)
    assert leftovers(tmp_path) == []


def test_truncated_transfer_raises_and_leaves_nothing(server, tmp_path):
    # No checksum given: only the Content-Length check can catch this.
    with pytest.raises(DownloadError, match="interrupted"):
        download(f"{server.url}/truncated", tmp_path / "truncated.bin", timeout=5)
    assert leftovers(tmp_path) == []


def test_unreachable_server_raises(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="data_mirror"):
        download(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", timeout=5)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".tsv", ".yaml"])
def test_lock_file_records_then_verifies(server, tmp_path, suffix):
    lock = tmp_path / f"checksums{suffix}"
    dest = tmp_path / "data" / "geo.h5ad"
    url = f"{server.url}/geo.h5ad"
    server.files["/geo.h5ad"] = GOOD

    download(url, dest, lock_file=lock, timeout=5)
    assert dest.read_bytes() == GOOD
    assert read_lock_file(lock) == {"geo.h5ad": sha256(GOOD)}

    # Present and verified: no new request.
    hits = len(server.hits)
    download(url, dest, lock_file=lock, timeout=5)
    assert len(server.hits) == hits

    # The server's file changes: the lock-file entry catches it.
    dest.unlink()
    server.files["/geo.h5ad"] = OTHER
    with pytest.raises(DownloadError) as caught:
        download(url, dest, lock_file=lock, timeout=5)
    assert sha256(GOOD) in str(caught.value) and sha256(OTHER) in str(caught.value)
    assert str(lock) in str(caught.value)
    assert leftovers(dest.parent) == []
    assert read_lock_file(lock) == {"geo.h5ad": sha256(GOOD)}


def test_lock_file_tsv_keeps_other_entries(server, tmp_path):
    lock = tmp_path / "checksums.tsv"
    lock.write_text("# my comment\nother.h5ad\tabc\n")
    download(f"{server.url}/good.bin", tmp_path / "good.bin", lock_file=lock, timeout=5)
    assert read_lock_file(lock) == {"other.h5ad": "abc", "good.bin": sha256(GOOD)}
    assert lock.read_text().startswith("# my comment\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_lock_entry_contradicting_given_sha256(server, tmp_path):
    lock = tmp_path / "checksums.tsv"
    lock.write_text(f"good.bin\t{sha256(OTHER)}\n")
    with pytest.raises(DownloadError, match="contradicts"):
        download(f"{server.url}/good.bin", tmp_path / "good.bin", sha256=sha256(GOOD), lock_file=lock)


def test_existing_verified_file_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "good.bin"
    dest.write_bytes(GOOD)
    assert download(f"{server.url}/gone.bin", dest, md5=md5(GOOD), timeout=5) == dest
    assert server.hits == []


def test_existing_corrupt_file_is_replaced(server, tmp_path):
    dest = tmp_path / "good.bin"
    dest.write_bytes(b"corrupt")
    download(f"{server.url}/good.bin", dest, md5=md5(GOOD), timeout=5)
    assert dest.read_bytes() == GOOD


def test_local_path_and_file_url(tmp_path):
    source = tmp_path / "mirror" / "good.bin"
    source.parent.mkdir()
    source.write_bytes(GOOD)
    by_path = download(str(source), tmp_path / "a" / "good.bin", md5=md5(GOOD))
    by_url = download(source.as_uri(), tmp_path / "b" / "good.bin", md5=md5(GOOD))
    assert by_path.read_bytes() == GOOD and by_url.read_bytes() == GOOD
    with pytest.raises(DownloadError, match="no such local file"):
        download(str(tmp_path / "nope.bin"), tmp_path / "c" / "nope.bin")
    assert leftovers(tmp_path / "c") == []


def test_mirror_folder_copy_then_fallback_to_url(server, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "good.bin").write_bytes(GOOD)
    dest = fetch_from_mirror_or_url("good.bin", mirror, f"{server.url}/nowhere.bin", tmp_path / "out" / "good.bin",
                                    md5=md5(GOOD), timeout=5)
    assert dest.read_bytes() == GOOD and server.hits == []

    # Not in the mirror: downloaded from the URL.
    dest2 = fetch_from_mirror_or_url("other.bin", mirror, f"{server.url}/good.bin", tmp_path / "out" / "other.bin",
                                     md5=md5(GOOD), timeout=5)
    assert dest2.read_bytes() == GOOD and server.hits == ["/good.bin"]


def test_corrupt_mirror_copy_is_rejected(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "good.bin").write_bytes(OTHER)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_from_mirror_or_url("good.bin", mirror, "http://127.0.0.1:9/x", tmp_path / "out" / "good.bin",
                                 md5=md5(GOOD))
    assert leftovers(tmp_path / "out") == []


# --------------------------------------------------------------------------
# zenodo_download: a fake record served by the loopback server or a mirror
# --------------------------------------------------------------------------

RECORD = "17369670"
RNA, MSI, NOTES = GOOD, OTHER, b"notes\n"
CONFIGURED = {"rna": "rna.h5ad", "msi": "msi.h5ad"}


def api_record(base: str, contents: dict[str, bytes]) -> dict:
    """A record's JSON in the shape of Zenodo's REST API (InvenioRDM), with
    the extra fields a real one has."""
    return {"id": RECORD, "recid": RECORD, "metadata": {"title": "fake"}, "links": {"self": f"{base}/{RECORD}"},
            "files": [{"id": f"uuid-{key}", "key": key, "size": len(body), "checksum": f"md5:{md5(body)}",
                       "links": {"self": f"{base}/{RECORD}/files/{key}/content"}} for key, body in contents.items()]}


@pytest.fixture
def zenodo_server(server):
    """The loopback server acting as Zenodo: the record at /api/records/<id>,
    its files at their links."""
    contents = {"rna.h5ad": RNA, "msi.h5ad": MSI, "notes.txt": NOTES}
    server.api = f"{server.url}/api/records"
    server.files[f"/api/records/{RECORD}"] = json.dumps(api_record(server.api, contents)).encode()
    for key, body in contents.items():
        server.files[f"/api/records/{RECORD}/files/{key}/content"] = body
    return server


def write_mirror(mirror: Path, contents: dict[str, bytes], listed: dict[str, bytes] | None = None,
                 base: str = "http://127.0.0.1:9/api/records") -> Path:
    """``<mirror>/zenodo/<record>/record.json`` (listing ``listed``, default
    ``contents``) and the files of ``contents``."""
    folder = mirror / "zenodo" / RECORD
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(json.dumps(api_record(base, listed or contents)))
    for key, body in contents.items():
        (folder / key).write_bytes(body)
    return folder


def fetch_zenodo(dataset_dir: Path, **kwargs):
    kwargs.setdefault("api_url", "http://127.0.0.1:9/api/records")  # unreachable unless a test serves it
    kwargs.setdefault("timeout", 5)
    return zenodo_download(RECORD, kwargs.pop("files", CONFIGURED), dataset_dir / "zenodo", dataset_dir / "record.json",
                           dataset="pca_spatial", **kwargs)


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_zenodo_record_and_files_from_the_api(zenodo_server, tmp_path):
    dataset = tmp_path / "downloads" / "pca_spatial"
    paths = fetch_zenodo(dataset, api_url=zenodo_server.api)
    assert paths == {"rna": dataset / "zenodo" / "rna.h5ad", "msi": dataset / "zenodo" / "msi.h5ad"}
    assert paths["rna"].read_bytes() == RNA and paths["msi"].read_bytes() == MSI
    assert files_in(dataset) == ["record.json", "zenodo", "zenodo/msi.h5ad", "zenodo/rna.h5ad"]  # notes.txt not fetched
    assert zenodo_server.hits[0] == f"/api/records/{RECORD}"
    # record.json: canonical and small -- the id and every file of the record, sorted, nothing else
    record = json.loads((dataset / "record.json").read_text())
    assert record == {"id": RECORD, "files": [
        {"key": key, "size": len(body), "checksum": f"md5:{md5(body)}",
         "links": {"self": f"{zenodo_server.api}/{RECORD}/files/{key}/content"}}
        for key, body in sorted({"msi.h5ad": MSI, "notes.txt": NOTES, "rna.h5ad": RNA}.items())]}
    assert (dataset / "record.json").read_text() == json.dumps(record, indent=2, sort_keys=True) + "\n"


def test_zenodo_rerun_is_offline_once_downloaded(zenodo_server, tmp_path):
    dataset = tmp_path / "pca_spatial"
    fetch_zenodo(dataset, api_url=zenodo_server.api)
    hits = len(zenodo_server.hits)
    # the server gone (the default api_url is unreachable): record.json and the verified files suffice
    assert fetch_zenodo(dataset)["rna"].read_bytes() == RNA
    assert len(zenodo_server.hits) == hits
    # a damaged file is fetched again and verified
    (dataset / "zenodo" / "msi.h5ad").write_bytes(b"damaged")
    fetch_zenodo(dataset, api_url=zenodo_server.api)
    assert (dataset / "zenodo" / "msi.h5ad").read_bytes() == MSI
    assert zenodo_server.hits[hits:] == [f"/api/records/{RECORD}/files/msi.h5ad/content"]


def test_zenodo_from_the_mirror_without_network(tmp_path):
    mirror, dataset = tmp_path / "mirror", tmp_path / "pca_spatial"
    write_mirror(mirror, {"rna.h5ad": RNA, "msi.h5ad": MSI})
    paths = fetch_zenodo(dataset, mirror=mirror)  # api_url and the files' links are unreachable
    assert paths["rna"].read_bytes() == RNA and paths["msi"].read_bytes() == MSI
    assert json.loads((dataset / "record.json").read_text())["id"] == RECORD
    assert files_in(dataset) == ["record.json", "zenodo", "zenodo/msi.h5ad", "zenodo/rna.h5ad"]


def test_zenodo_mirror_lacking_a_file_downloads_it_from_its_link(zenodo_server, tmp_path):
    mirror, dataset = tmp_path / "mirror", tmp_path / "pca_spatial"
    write_mirror(mirror, {"rna.h5ad": RNA}, listed={"rna.h5ad": RNA, "msi.h5ad": MSI}, base=zenodo_server.api)
    fetch_zenodo(dataset, mirror=mirror)
    assert (dataset / "zenodo" / "msi.h5ad").read_bytes() == MSI
    assert zenodo_server.hits == [f"/api/records/{RECORD}/files/msi.h5ad/content"]  # the record and rna: mirror


def test_zenodo_without_mirror_record_reads_the_api(zenodo_server, tmp_path):
    """A mirror folder without this record: everything from the API."""
    (tmp_path / "mirror").mkdir()
    fetch_zenodo(tmp_path / "pca_spatial", mirror=tmp_path / "mirror", api_url=zenodo_server.api)
    assert zenodo_server.hits[0] == f"/api/records/{RECORD}"


@pytest.mark.parametrize("via", ["api", "mirror"])
def test_zenodo_wrong_configured_name_lists_the_record_and_leaves_nothing(zenodo_server, tmp_path, via):
    mirror, dataset = tmp_path / "mirror", tmp_path / "downloads" / "pca_spatial"
    if via == "mirror":
        write_mirror(mirror, {"rna.h5ad": RNA, "msi.h5ad": MSI, "notes.txt": NOTES})
    with pytest.raises(InputError) as caught:
        fetch_zenodo(dataset, files={"rna": "rna.h5ad", "msi": "lipids.h5ad"}, api_url=zenodo_server.api,
                     mirror=mirror if via == "mirror" else None)
    message = str(caught.value)
    assert "\n" not in message and "fix:" in message
    assert "datasets.pca_spatial.files.msi" in message and "'lipids.h5ad'" in message
    assert "msi.h5ad, notes.txt, rna.h5ad" in message  # the record's files
    assert not dataset.exists()  # no record.json, no file, no folder
    assert all("/files/" not in hit for hit in zenodo_server.hits)


@pytest.mark.parametrize("via", ["api", "mirror"])
def test_zenodo_md5_mismatch_keeps_nothing(zenodo_server, tmp_path, via):
    mirror, dataset = tmp_path / "mirror", tmp_path / "pca_spatial"
    if via == "mirror":
        write_mirror(mirror, {"rna.h5ad": b"corrupted", "msi.h5ad": MSI}, listed={"rna.h5ad": RNA, "msi.h5ad": MSI})
    else:
        zenodo_server.files[f"/api/records/{RECORD}/files/rna.h5ad/content"] = b"corrupted"
    with pytest.raises(DownloadError) as caught:
        fetch_zenodo(dataset, api_url=zenodo_server.api, mirror=mirror if via == "mirror" else None)
    assert md5(RNA) in str(caught.value) and md5(b"corrupted") in str(caught.value)
    assert "rna.h5ad" not in files_in(dataset / "zenodo") and not list(dataset.rglob("*.part"))


def test_zenodo_older_record_shapes_are_read():
    legacy = {"id": int(RECORD), "files": [
        {"filename": "b.h5ad", "filesize": 3, "checksum": md5(b"abc"), "links": {"download": "https://x/b"}},
        {"key": "a.h5ad", "size": 2, "checksum": "MD5:" + md5(b"ab").upper()}]}
    assert canonical_record(legacy, RECORD, "legacy.json", api_url="https://zenodo.org/api/records") == {
        "id": RECORD, "files": [
            {"key": "a.h5ad", "size": 2, "checksum": f"md5:{md5(b'ab')}",
             "links": {"self": f"https://zenodo.org/api/records/{RECORD}/files/a.h5ad/content"}},
            {"key": "b.h5ad", "size": 3, "checksum": f"md5:{md5(b'abc')}", "links": {"self": "https://x/b"}}]}
    entries = {"id": RECORD, "files": {"enabled": True, "entries": {"a.h5ad": {"checksum": f"md5:{md5(b'ab')}"}}}}
    assert [f["key"] for f in canonical_record(entries, RECORD, "rdm.json")["files"]] == ["a.h5ad"]


def test_zenodo_mirror_json_of_another_record_is_refused(tmp_path):
    folder = write_mirror(tmp_path / "mirror", {"rna.h5ad": RNA, "msi.h5ad": MSI})
    (folder / "record.json").write_text(json.dumps({**api_record("http://x", {"rna.h5ad": RNA}), "id": "42"}))
    with pytest.raises(InputError, match="is record 42, not record 17369670"):
        fetch_zenodo(tmp_path / "pca_spatial", mirror=tmp_path / "mirror")
    assert not (tmp_path / "pca_spatial").exists()


def test_zenodo_unknown_record_is_one_line(server, tmp_path):
    with pytest.raises(DownloadError) as caught:
        fetch_zenodo(tmp_path / "pca_spatial", api_url=f"{server.url}/api/records")
    assert "404" in str(caught.value) and "datasets.<name>.record" in str(caught.value)
    assert not (tmp_path / "pca_spatial").exists()


def test_zenodo_configured_md5_must_agree_with_the_record(zenodo_server, tmp_path):
    with pytest.raises(DownloadError, match=r"datasets\.pca_spatial\.md5"):
        fetch_zenodo(tmp_path / "d", api_url=zenodo_server.api, md5s={"rna.h5ad": md5(OTHER)})
    assert not (tmp_path / "d" / "zenodo" / "rna.h5ad").exists()


def test_zenodo_file_without_a_published_md5_is_not_fetched(zenodo_server, tmp_path):
    record = json.loads(zenodo_server.files[f"/api/records/{RECORD}"])
    for entry in record["files"]:
        entry.pop("checksum")
    zenodo_server.files[f"/api/records/{RECORD}"] = json.dumps(record).encode()
    with pytest.raises(DownloadError, match="publishes no md5"):
        fetch_zenodo(tmp_path / "d", api_url=zenodo_server.api)
    assert all("/files/" not in hit for hit in zenodo_server.hits)


def test_zenodo_rejects_path_like_names(tmp_path):
    with pytest.raises(InputError, match=r"datasets\.pca_spatial\.files\.rna.*plain file name"):
        fetch_zenodo(tmp_path / "d", files={"rna": "../evil"})


# --------------------------------------------------------------------------
# fetch_geo: <mirror>/geo/<file> first, verified against the lock file
# --------------------------------------------------------------------------

GEO_NAME = "GSE194122_openproblems_neurips2021_cite_BMMC_processed.h5ad.gz"


def geo_mirror(tmp_path: Path, body: bytes, mirror_lock: str | None = None) -> Path:
    folder = tmp_path / "mirror" / "geo"
    folder.mkdir(parents=True)
    (folder / GEO_NAME).write_bytes(body)
    if mirror_lock is not None:
        (folder / "checksums.lock.tsv").write_text(f"filename\tsha256\n{GEO_NAME}\t{mirror_lock}\n")
    return folder.parent


def test_geo_from_the_mirror_records_then_verifies(tmp_path):
    mirror = geo_mirror(tmp_path, GOOD, mirror_lock=sha256(GOOD))
    lock, dest = tmp_path / "checksums.lock.tsv", tmp_path / "downloads" / "geo" / GEO_NAME
    fetch_geo(f"http://127.0.0.1:9/{GEO_NAME}", dest, lock, mirror=mirror, timeout=5)  # the URL is unreachable
    assert dest.read_bytes() == GOOD and read_lock_file(lock) == {GEO_NAME: sha256(GOOD)}
    # a changed mirror copy no longer matches the recorded sha256: nothing kept
    dest.unlink()
    (mirror / "geo" / GEO_NAME).write_bytes(OTHER)
    (mirror / "geo" / "checksums.lock.tsv").unlink()
    with pytest.raises(DownloadError, match="sha256"):
        fetch_geo(f"http://127.0.0.1:9/{GEO_NAME}", dest, lock, mirror=mirror, timeout=5)
    assert leftovers(dest.parent) == []


def test_geo_mirror_copy_must_match_the_mirror_lock(tmp_path):
    mirror = geo_mirror(tmp_path, b"corrupted", mirror_lock=sha256(GOOD))
    dest = tmp_path / "downloads" / GEO_NAME
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_geo("http://127.0.0.1:9/x", dest, tmp_path / "checksums.lock.tsv", mirror=mirror, timeout=5)
    assert leftovers(dest.parent) == [] and read_lock_file(tmp_path / "checksums.lock.tsv") == {}


def test_geo_mirror_lock_contradicting_the_project_lock_stops_before_copying(tmp_path):
    mirror = geo_mirror(tmp_path, OTHER, mirror_lock=sha256(OTHER))
    lock = tmp_path / "checksums.lock.tsv"
    lock.write_text(f"{GEO_NAME}\t{sha256(GOOD)}\n")
    dest = tmp_path / "downloads" / GEO_NAME
    with pytest.raises(DownloadError) as caught:
        fetch_geo("http://127.0.0.1:9/x", dest, lock, mirror=mirror, dataset="neurips_cite", timeout=5)
    message = str(caught.value)
    assert "datasets.neurips_cite.lock" in message and str(mirror / "geo" / "checksums.lock.tsv") in message
    assert "\n" not in message and not dest.parent.exists()


def test_geo_without_a_mirror_copy_downloads_the_url(server, tmp_path):
    (tmp_path / "mirror" / "geo").mkdir(parents=True)
    server.files[f"/{GEO_NAME}"] = GOOD
    lock, dest = tmp_path / "checksums.lock.tsv", tmp_path / "downloads" / GEO_NAME
    fetch_geo(f"{server.url}/{GEO_NAME}", dest, lock, mirror=tmp_path / "mirror", timeout=5)
    fetch_geo(f"{server.url}/{GEO_NAME}", tmp_path / "again" / GEO_NAME, lock, mirror=None, timeout=5)
    assert server.hits == [f"/{GEO_NAME}"] * 2 and read_lock_file(lock) == {GEO_NAME: sha256(GOOD)}
