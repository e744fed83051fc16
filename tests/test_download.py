"""Data that arrives by itself, against an HTTP server on 127.0.0.1 that each test starts (no internet here)."""

import dataclasses
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.data import mnist, sources
from harness.data.catalogue import ensure
from harness.data.download import DownloadError
from harness.data.sources import SOURCES, Remote
from harness.data.locations import DataMissingError



class Handler(BaseHTTPRequestHandler):
    """Serves server.files by name; honours byte ranges unless server.ranges is False; cuts the first
    response of each name in server.cut_once halfway."""

    def do_GET(self):
        name = self.path.lstrip("/")
        self.server.requests.append((name, self.headers.get("Range")))
        if name not in self.server.files:
            self.send_error(404, "Not Found")
            return
        data = self.server.files[name]
        wanted = self.headers.get("Range")
        start = int(wanted.split("=")[1].rstrip("-")) if wanted and self.server.ranges else 0
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in self.server.cut_once:
            self.server.cut_once.discard(name)
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path, make_mnist):
    """A local HTTP server; $LSTM_TWINS_MIRROR points at it; MNIST's remotes are the test's own files."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.requests, httpd.cut_once, httpd.ranges = {}, [], set(), True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(sources.MIRROR_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("LSTM_TWINS_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "upstream"
    make_mnist(source)
    remotes = []
    for path in sorted((source / "mnist").iterdir()):
        httpd.files[path.name] = path.read_bytes()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        remotes.append(Remote(f"https://example.org/mnist/{path.name}", f"mnist/{path.name}", path.stat().st_size,
                              f"sha256:{digest}"))
    monkeypatch.setitem(SOURCES, "mnist", dataclasses.replace(SOURCES["mnist"], remotes=tuple(remotes)))
    yield httpd
    httpd.shutdown()


def test_a_missing_set_is_fetched_checked_and_loads(server, tmp_path, capsys):
    root = tmp_path / "data"
    ensure(["mnist"], root, progress=False)
    assert "MNIST: downloading 4 files" in capsys.readouterr().out
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(server.files)
    assert len(mnist.load(root, valid_size=10)["test"][1]) == 10
    server.requests.clear()
    ensure(["mnist"], root, progress=False)
    assert server.requests == [], "no request when the data is present"


def test_no_request_when_the_data_is_already_there(server, tmp_path, make_mnist):
    make_mnist(tmp_path / "data")  # as on these machines: the files are in the data folder already
    ensure(["mnist", "ptb_lm"], tmp_path / "data", progress=False)
    assert server.requests == []


def test_a_corrupted_download_is_refused_and_nothing_is_left(server, tmp_path):
    name = "t10k-labels-idx1-ubyte.gz"
    good = server.files[name]
    server.files[name] = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(DownloadError) as caught:
        ensure(["mnist"], tmp_path / "data", progress=False)
    message = str(caught.value)
    expected = hashlib.sha256(good).hexdigest()
    actual = hashlib.sha256(server.files[name]).hexdigest()
    assert "\n" not in message and message.startswith(f"{name}: checksum mismatch")
    assert expected in message and actual in message
    assert not (tmp_path / "data" / "mnist" / name).exists()
    assert not list((tmp_path / "data" / "mnist").glob("*.part")), "no half file left"


@pytest.mark.parametrize("ranges", [True, False])
def test_a_cut_download_is_resumed_or_restarted(server, tmp_path, ranges):
    name = "train-images-idx3-ubyte.gz"
    server.cut_once.add(name)
    server.ranges = ranges
    ensure(["mnist"], tmp_path / "data", progress=False)
    assert (tmp_path / "data" / "mnist" / name).read_bytes() == server.files[name]
    again = [header for requested, header in server.requests if requested == name]
    assert len(again) == 2 and again[1] == f"bytes={len(server.files[name]) // 2}-"  # asked to resume


def test_a_part_file_from_an_earlier_cut_is_resumed(server, tmp_path):
    name = "train-labels-idx1-ubyte.gz"
    part = tmp_path / "data" / "mnist" / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(server.files[name][:10])
    ensure(["mnist"], tmp_path / "data", progress=False)
    assert (tmp_path / "data" / "mnist" / name).read_bytes() == server.files[name] and not part.exists()
    assert ("train-labels-idx1-ubyte.gz", "bytes=10-") in server.requests


def test_a_404_is_a_clear_error(server, tmp_path):
    del server.files["t10k-images-idx3-ubyte.gz"]
    with pytest.raises(DownloadError, match=r"^t10k-images-idx3-ubyte.gz: http://127\.0\.0\.1:\d+/t10k-images-idx3-"
                                            r"ubyte\.gz answered HTTP 404 Not Found$"):
        ensure(["mnist"], tmp_path / "data", progress=False)


def test_offline_the_error_gives_every_address_and_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.MIRROR_ENV, "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(DataMissingError) as caught:
        ensure(["imdb"], tmp_path / "data", progress=False)
    message = str(caught.value)
    remote = SOURCES["imdb"].remotes[0]
    assert message.startswith("IMDB: not found, and fetching it failed (aclImdb_v1.tar.gz: cannot reach")
    assert remote.url in message and remote.checksum in message and str(tmp_path / "data") in message


def test_train_fetches_what_is_missing_then_runs(server, tmp_path, monkeypatch, capsys, small_config):
    import yaml

    from harness import paths
    from harness.cli import main
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(small_config(epochs=1)))
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    code = main(["train", "--task", "mnist", "--twin", "numpy", "--config", str(config), "--data-dir",
                 str(tmp_path / "data"), "--no-progress"])
    assert code == 0 and "MNIST: downloading 4 files" in capsys.readouterr().out
    assert (tmp_path / "results" / "tiny" / "numpy-seed42.json").exists()
