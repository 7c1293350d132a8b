"""download() against a real HTTP server on 127.0.0.1 that honours (or ignores) Range requests."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hybridrec_ml.data.sources.download import DownloadError, download


def _reviews_gz(n_lines: int, seed: int) -> bytes:
    """A small Electronics_5.json.gz-shaped file; random ids keep gzip from shrinking it to nothing."""
    rng = random.Random(seed)
    lines = [
        json.dumps(
            {
                "overall": float(rng.randint(1, 5)),
                "reviewerID": "A" + "".join(rng.choices("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=13)),
                "asin": "".join(rng.choices("0123456789", k=10)),
                "unixReviewTime": rng.randint(946684800, 1538352000) // 86400 * 86400,
            }
        )
        for _ in range(n_lines)
    ]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


@dataclass
class FileServer:
    """What the server serves and how it misbehaves, plus a log of (path, Range header) per request."""

    files: dict[str, bytes]
    base_url: str = ""
    cut_first_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before hanging up, once
    ignore_range: set[str] = field(default_factory=set)
    no_length: set[str] = field(default_factory=set)  # paths sent without Content-Length (until the close)
    requests: list[tuple[str, str | None]] = field(default_factory=list)


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            if match and self.path not in state.ignore_range:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Type", "application/gzip")
            if self.path not in state.no_length:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            cut = state.cut_first_after.pop(self.path, None)
            self.wfile.write(payload if cut is None else payload[:cut])
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[FileServer]:
    state = FileServer(files={"/Electronics_5.json.gz": _reviews_gz(400, seed=1)})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


PATH = "/Electronics_5.json.gz"


def test_fresh_download_is_verified_and_renamed_into_place(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    dest = tmp_path / "raw" / "Electronics_5.json.gz"
    seen: list[tuple[int, int | None]] = []

    result = download(
        server.base_url + PATH,
        dest,
        expected_size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        chunk_size=4096,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert result == dest
    assert dest.read_bytes() == body
    assert not (tmp_path / "raw" / "Electronics_5.json.gz.part").exists()
    assert server.requests == [(PATH, None)]
    assert seen == [(min(n, len(body)), len(body)) for n in range(4096, len(body) + 4096, 4096)]


def test_existing_file_that_verifies_is_kept_without_a_request(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    dest = tmp_path / "Electronics_5.json.gz"
    dest.write_bytes(body)

    download(server.base_url + PATH, dest, sha256=hashlib.sha256(body).hexdigest())

    assert server.requests == []


def test_interrupted_transfer_resumes_with_range_on_the_next_call(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    server.cut_first_after[PATH] = 5000
    dest = tmp_path / "Electronics_5.json.gz"
    part = tmp_path / "Electronics_5.json.gz.part"
    url = server.base_url + PATH

    with pytest.raises(DownloadError) as first:
        download(url, dest, sha256=hashlib.sha256(body).hexdigest(), chunk_size=4096)
    assert str(first.value) == f"{url}: connection closed after 5000 of {len(body)} bytes; call again to resume"
    assert part.read_bytes() == body[:5000]
    assert not dest.exists()

    download(url, dest, sha256=hashlib.sha256(body).hexdigest(), chunk_size=4096)

    assert dest.read_bytes() == body
    assert not part.exists()
    assert server.requests == [(PATH, None), (PATH, "bytes=5000-")]


def test_server_ignoring_range_restarts_from_byte_zero(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    server.ignore_range.add(PATH)
    dest = tmp_path / "Electronics_5.json.gz"
    (tmp_path / "Electronics_5.json.gz.part").write_bytes(b"stale bytes of another version")

    download(server.base_url + PATH, dest, expected_size=len(body))

    assert dest.read_bytes() == body
    assert server.requests == [(PATH, "bytes=30-")]


def test_complete_part_answered_416_is_finished_without_a_body(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    dest = tmp_path / "Electronics_5.json.gz"
    (tmp_path / "Electronics_5.json.gz.part").write_bytes(body)

    download(server.base_url + PATH, dest)

    assert dest.read_bytes() == body
    assert server.requests == [(PATH, f"bytes={len(body)}-")]


def test_part_longer_than_the_file_is_discarded_after_416(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    dest = tmp_path / "Electronics_5.json.gz"
    (tmp_path / "Electronics_5.json.gz.part").write_bytes(body + b"trailing junk")

    download(server.base_url + PATH, dest)

    assert dest.read_bytes() == body
    assert server.requests == [(PATH, f"bytes={len(body) + 13}-"), (PATH, None)]


def test_missing_file_raises_with_the_http_status(server: FileServer, tmp_path: Path) -> None:
    url = server.base_url + "/meta_Electronics.json.gz"
    dest = tmp_path / "meta_Electronics.json.gz"

    with pytest.raises(DownloadError) as error:
        download(url, dest)

    assert str(error.value) == f"{url}: HTTP 404 Not Found"
    assert list(tmp_path.iterdir()) == []


def test_checksum_mismatch_raises_and_deletes_the_partial_file(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    url = server.base_url + PATH
    dest = tmp_path / "Electronics_5.json.gz"
    wrong = "0" * 64

    with pytest.raises(DownloadError) as error:
        download(url, dest, sha256=wrong)

    actual = hashlib.sha256(body).hexdigest()
    assert str(error.value) == f"{url}: checksum mismatch: expected sha256 {wrong}, got {actual}"
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_raises(server: FileServer, tmp_path: Path) -> None:
    body = server.files[PATH]
    url = server.base_url + PATH

    with pytest.raises(DownloadError) as error:
        download(url, tmp_path / "Electronics_5.json.gz", expected_size=len(body) + 1)

    assert str(error.value) == f"{url}: size mismatch: expected {len(body) + 1} bytes, got {len(body)}"
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/Electronics_5.json.gz"

    with pytest.raises(DownloadError, match=re.escape(f"{url}: connection failed: ")):
        download(url, tmp_path / "Electronics_5.json.gz", timeout=5)


@pytest.mark.parametrize(
    ("name", "body", "cut", "why"),
    [
        ("/Electronics_5.json.gz", _reviews_gz(400, seed=2), 3000, "the gzip stream does not reach its end"),
        ("/Electronics.jsonl", b'{"user_id": "U1"}\n{"user_id": "U2"}\n', 25, "the file does not end with a newline"),
    ],
)
def test_a_body_of_unknown_size_cut_short_is_not_accepted_and_resumes(
    server: FileServer, tmp_path: Path, name: str, body: bytes, cut: int, why: str
) -> None:
    """No checksum, no size, no Content-Length: the short body raises no error in http.client, so the
    file's own end is checked before the rename."""
    server.files[name] = body
    server.no_length.add(name)
    server.cut_first_after[name] = cut
    dest = tmp_path / name.lstrip("/")

    with pytest.raises(DownloadError) as error:
        download(server.base_url + name, dest)

    assert str(error.value).startswith(f"{server.base_url}{name}: {why}")
    assert str(error.value).endswith("the connection was probably cut; call again to resume")
    assert not dest.exists()
    assert download(server.base_url + name, dest) == dest
    assert dest.read_bytes() == body
    assert server.requests == [(name, None), (name, f"bytes={cut}-")]


def test_a_whole_body_of_unknown_size_is_accepted(server: FileServer, tmp_path: Path) -> None:
    server.no_length.add(PATH)
    dest = tmp_path / "Electronics_5.json.gz"

    download(server.base_url + PATH, dest)

    assert dest.read_bytes() == server.files[PATH]
