"""Unit tests of mima.data.download, mima.data.checksum_lock and mima.data.zenodo against a
loopback HTTP server, local files and a fake zenodo_get (no internet)."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mima.data import zenodo
from mima.data.checksum_lock import read_lock_file
from mima.data.download import DownloadError, download, fetch_from_mirror_or_url
from mima.data.zenodo import zenodo_download
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
# zenodo_download (zenodo_get replaced by a fake runner)
# --------------------------------------------------------------------------


class FakeZenodoGet:
    """Acts like zenodo_get: ``-m`` writes md5sums.txt, otherwise writes the -g files into -o."""

    def __init__(self, served: dict[str, bytes], published: dict[str, str]):
        self.served = served
        self.published = published
        self.calls: list[list[str]] = []

    def __call__(self, argv):
        assert isinstance(argv, list) and all(isinstance(arg, str) for arg in argv)
        self.calls.append(argv)
        outdir = Path(argv[argv.index("-o") + 1])
        names = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-g"]
        if "-m" in argv:
            lines = "".join(f"{self.published[n]}  {n}\n" for n in names if n in self.published)
            (outdir / "md5sums.txt").write_text(lines)
            return
        for name in names:
            (outdir / name).write_bytes(self.served[name])


def test_zenodo_download_verifies_and_moves(tmp_path):
    fake = FakeZenodoGet({"a.h5ad": GOOD, "b.csv": OTHER}, {"a.h5ad": md5(GOOD), "b.csv": md5(OTHER)})
    paths = zenodo_download("10.5281/zenodo.17369670", ["a.h5ad", "b.csv"], tmp_path, md5s={"a.h5ad": md5(GOOD)},
                            command=["zenodo_get"], runner=fake)
    assert paths == {"a.h5ad": tmp_path / "a.h5ad", "b.csv": tmp_path / "b.csv"}
    assert paths["a.h5ad"].read_bytes() == GOOD and paths["b.csv"].read_bytes() == OTHER
    assert leftovers(tmp_path) == ["a.h5ad", "b.csv"]  # staging folder and md5sums.txt cleaned up
    assert fake.calls[0][:3] == ["zenodo_get", "17369670", "-m"]
    assert "-m" not in fake.calls[1] and fake.calls[1][1] == "17369670"


def test_zenodo_download_rejects_record_md5_mismatch(tmp_path):
    fake = FakeZenodoGet({"a.h5ad": b"corrupted"}, {"a.h5ad": md5(GOOD)})
    with pytest.raises(DownloadError) as caught:
        zenodo_download(17369670, ["a.h5ad"], tmp_path, command=["zenodo_get"], runner=fake)
    assert md5(GOOD) in str(caught.value) and md5(b"corrupted") in str(caught.value)
    assert not (tmp_path / "a.h5ad").exists()
    assert not (tmp_path / ".zenodo-17369670.part" / "a.h5ad").exists()


def test_zenodo_download_manifest_and_record_must_agree(tmp_path):
    fake = FakeZenodoGet({"a.h5ad": GOOD}, {"a.h5ad": md5(GOOD)})
    with pytest.raises(DownloadError, match="manifest expects"):
        zenodo_download(1, ["a.h5ad"], tmp_path, md5s={"a.h5ad": md5(OTHER)}, command=["zenodo_get"], runner=fake)
    assert not (tmp_path / "a.h5ad").exists()


def test_zenodo_download_needs_some_md5(tmp_path):
    fake = FakeZenodoGet({"a.h5ad": GOOD}, {})
    with pytest.raises(DownloadError, match="no md5 known"):
        zenodo_download(1, ["a.h5ad"], tmp_path, command=["zenodo_get"], runner=fake)


def test_zenodo_download_skips_verified_files(tmp_path):
    (tmp_path / "a.h5ad").write_bytes(GOOD)
    fake = FakeZenodoGet({}, {"a.h5ad": md5(GOOD)})
    zenodo_download(1, ["a.h5ad"], tmp_path, md5s={"a.h5ad": md5(GOOD)}, command=["zenodo_get"], runner=fake)
    assert fake.calls == []  # offline re-run

    # Without a manifest md5 the record's md5 is fetched (-m) but the file is not downloaded again.
    zenodo_download(1, ["a.h5ad"], tmp_path, command=["zenodo_get"], runner=fake)
    assert len(fake.calls) == 1 and "-m" in fake.calls[0]


def test_zenodo_get_missing_is_a_clear_input_error(tmp_path, monkeypatch):
    monkeypatch.setattr(zenodo, "which", lambda *args, **kwargs: None)
    monkeypatch.setattr(zenodo, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="zenodo-get"):
        zenodo_download(1, ["a.h5ad"], tmp_path)


def test_zenodo_download_rejects_path_like_names(tmp_path):
    with pytest.raises(InputError, match="plain file name"):
        zenodo_download(1, ["../evil"], tmp_path, md5s={"../evil": "0"}, command=["zenodo_get"], runner=print)
