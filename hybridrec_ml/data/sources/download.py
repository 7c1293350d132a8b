"""Resumable, verified HTTP download with the standard library (and ISA-L for the gzip check).

Dataset files are large (Electronics_5.json.gz is ~1.2 GB) and their hosts move or drop
connections, so a transfer streams into `<dest>.part`, resumes from there with an HTTP Range
request on the next call, and only an `os.replace` of a verified file ever creates `dest`.
A body whose size nobody knows (no checksum, no configured size, no Content-Length) can end early
without any error, so such a file must prove it is whole: a gzip stream must reach its end, a
plain text file must end with a newline.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from isal import igzip

Progress = Callable[[int, int | None], None]  # (bytes on disk so far, total size if known)

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE_RANGE = re.compile(r"bytes \*/(\d+)")


class DownloadError(RuntimeError):
    """A download failed; the message names the URL and the cause."""


def download(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    sha256: str | None = None,
    chunk_size: int = 1 << 20,
    timeout: float = 60,
    progress: Progress | None = None,
) -> Path:
    """Fetch `url` to `dest`, resuming an earlier partial transfer; returns `dest`.

    An existing `dest` that passes the size/checksum checks is kept without any request. A
    dropped connection raises `DownloadError` and keeps `<dest>.part` so the next call resumes;
    a size or checksum mismatch of the finished file deletes it, since resuming cannot repair it.
    When neither `sha256` nor a size (given or sent by the server) is known, the file's own end is
    checked instead (gzip end-of-stream, else a final newline); one that fails keeps its `.part`.
    """
    dest = Path(dest)
    if dest.exists() and _verification_failure(dest, expected_size, sha256) is None:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        part.unlink()  # longer than the real file: not a prefix of it
        offset = 0
    size_known = expected_size is not None
    if expected_size is None or offset < expected_size or not part.exists():
        size_known = _transfer(url, part, offset, expected_size, chunk_size, timeout, progress) or size_known
    failure = _verification_failure(part, expected_size, sha256)
    if failure is not None:
        part.unlink()
        raise DownloadError(f"{url}: {failure}")
    if sha256 is None and not size_known:
        unfinished = _unfinished_file(part)
        if unfinished is not None:
            raise DownloadError(f"{url}: {unfinished}, the connection was probably cut; call again to resume")
    os.replace(part, dest)
    return dest


class _StalePart(Exception):
    """The server refused the range because the .part is longer than the file: start over."""


def _transfer(
    url: str,
    part: Path,
    offset: int,
    expected_size: int | None,
    chunk_size: int,
    timeout: float,
    progress: Progress | None,
) -> bool:
    """Append the rest of the resource to `part`, or rewrite it when the server sends it whole.

    Returns whether the server told the file's size (so a short body would have raised).
    """
    try:
        response = _open(url, offset, timeout)
    except _StalePart:
        part.unlink()
        return _transfer(url, part, 0, expected_size, chunk_size, timeout, progress)
    if response is None:
        return True  # the .part already holds the whole file, as a 416 with the file's size said
    with response:
        length = response.headers.get("Content-Length")
        body_size = int(length) if length is not None else None
        offset, total, mode = _body_start(url, response, offset, body_size)
        if expected_size is not None:
            total = expected_size
        received = _write_body(url, response, part, mode, offset, total, chunk_size, progress)
        # http.client returns a short body without error when the peer closes early.
        if body_size is not None and received < body_size:
            raise DownloadError(
                f"{url}: connection closed after {offset + received} of {offset + body_size} bytes; "
                "call again to resume"
            )
    return total is not None


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse | None:
    """The response for bytes `offset`.. of `url`; None when the .part already reaches the end of the file."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            # The .part already reaches the end of the file (complete) or goes past it (stale).
            match = _UNSATISFIABLE_RANGE.fullmatch(error.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                return None
            raise _StalePart from error
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise DownloadError(f"{url}: connection failed: {reason}") from error


def _body_start(
    url: str, response: http.client.HTTPResponse, offset: int, body_size: int | None
) -> tuple[int, int | None, str]:
    """(first byte of the body in the file, file size if known, file mode): 206 appends, 200 rewrites."""
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != offset:
            raise DownloadError(
                f"{url}: server answered Range bytes={offset}- with Content-Range "
                f"{response.headers.get('Content-Range')!r}"
            )
        return offset, None if match.group(3) == "*" else int(match.group(3)), "ab"
    return 0, body_size, "wb"  # 200: the server ignored Range (or none was sent), so the body starts at byte 0


def _write_body(
    url: str,
    response: http.client.HTTPResponse,
    part: Path,
    mode: str,
    offset: int,
    total: int | None,
    chunk_size: int,
    progress: Progress | None,
) -> int:
    """Stream the body into `part`, reporting progress; the number of bytes received."""
    received = 0
    with part.open(mode) as out:
        try:
            while chunk := response.read(chunk_size):
                out.write(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(offset + received, total)
        except (http.client.HTTPException, OSError) as error:
            raise DownloadError(
                f"{url}: connection lost after {offset + received} bytes ({error!r}); call again to resume"
            ) from error
    return received


def _unfinished_file(path: Path) -> str | None:
    """Why `path` looks cut short, or None: a gzip stream must reach its end, a text file its final newline."""
    with path.open("rb") as stream:
        compressed = stream.read(2) == b"\x1f\x8b"
        stream.seek(-1, os.SEEK_END)
        last = stream.read(1)
    if not compressed:
        return None if last == b"\n" else "the file does not end with a newline"
    try:
        with igzip.open(path, "rb") as inflated:
            while inflated.read(1 << 24):
                pass
    except (EOFError, OSError) as error:
        return f"the gzip stream does not reach its end ({error})"
    return None


def _verification_failure(path: Path, expected_size: int | None, sha256: str | None) -> str | None:
    """Why `path` is not the expected file, or None when it passes every check that was asked for."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        return f"size mismatch: expected {expected_size} bytes, got {size}"
    if sha256 is not None:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != sha256.lower():
            return f"checksum mismatch: expected sha256 {sha256.lower()}, got {digest.hexdigest()}"
    return None
