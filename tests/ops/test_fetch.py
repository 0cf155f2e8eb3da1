"""`terminology fetch`: files from URLs served on 127.0.0.1, complete and verified or not at all."""

from __future__ import annotations

import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from terminology.cli import main


@pytest.fixture
def web(tmp_path):
    """Serve a directory of synthetic files on 127.0.0.1; yield (directory, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_saves_each_url_under_its_name(web, tmp_path, capsys):
    root, base = web
    (root / "synthetic-ptp-f1.zip").write_bytes(b"PK synthetic part 1")
    (root / "synthetic-mue.csv").write_text("ZZ001,1\n")
    into = tmp_path / "work"
    assert main(["fetch", "--into", str(into), f"{base}/synthetic-ptp-f1.zip?signature=secret",
                 f"{base}/synthetic-mue.csv"]) == 0  # fmt: skip
    assert (into / "synthetic-ptp-f1.zip").read_bytes() == b"PK synthetic part 1"
    assert (into / "synthetic-mue.csv").read_text() == "ZZ001,1\n"
    assert "secret" not in capsys.readouterr().out  # a presigned URL's query is never printed


def test_fetch_verifies_the_checksum_and_leaves_nothing_on_failure(web, tmp_path, capsys):
    root, base = web
    content = b"synthetic index bytes"
    (root / "index.bin").write_bytes(content)
    into = tmp_path / "data"
    good = hashlib.sha256(content).hexdigest()
    assert (
        main(["fetch", "--into", str(into), "--name", "ncci.sqlite", "--sha256", good, f"{base}/index.bin"])
        == 0
    )
    assert (into / "ncci.sqlite").read_bytes() == content
    assert main(["fetch", "--into", str(into), "--name", "other.sqlite", "--sha256", "0" * 64,
                 f"{base}/index.bin"]) == 1  # fmt: skip
    assert main(["fetch", "--into", str(into), f"{base}/missing.zip"]) == 1
    assert main(["fetch", "--into", str(into), "file:///etc/passwd"]) == 1
    err = capsys.readouterr().err
    assert "SHA-256" in err and "HTTP 404" in err and "only https://" in err
    assert sorted(p.name for p in into.iterdir()) == ["ncci.sqlite"]  # no partial or temporary file


def test_fetch_refuses_name_or_checksum_for_several_urls(tmp_path):
    urls = ["http://127.0.0.1:9/a.zip", "http://127.0.0.1:9/b.zip"]
    assert main(["fetch", "--into", str(tmp_path), "--name", "x", *urls]) == 2
    assert main(["fetch", "--into", str(tmp_path), "--sha256", "0" * 64, *urls]) == 2
