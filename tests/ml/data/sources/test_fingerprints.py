"""Fingerprints notice new and changed content, ignore a moved mtime on identical bytes, and wait for files to settle."""

import hashlib
import os
from pathlib import Path

import pytest

from hybridrec_ml.data.sources.fingerprints import (
    SETTLE_NS,
    Fingerprint,
    content_key,
    dumps,
    fingerprint_files,
    hash_files,
    loads,
    unsettled,
)

T0 = 1_700_000_000_000_000_000  # an mtime in ns, long settled by NOW
NOW = T0 + 10 * SETTLE_NS


def write(path: Path, payload: bytes, mtime_ns: int = T0) -> Path:
    path.write_bytes(payload)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def test_a_file_is_hashed_only_once_it_held_still_since_the_previous_look(tmp_path: Path) -> None:
    path = write(tmp_path / "Electronics_5.json.gz", b"abc")

    first = fingerprint_files([path], {}, now_ns=NOW)
    second = fingerprint_files([path], first, now_ns=NOW)

    assert first == {str(path): Fingerprint(3, T0, None)}
    assert unsettled(first) == [str(path)]
    assert second == {str(path): Fingerprint(3, T0, sha(b"abc"))}
    assert unsettled(second) == []


def test_a_settled_hash_is_reused_without_reading_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews", b"abc")
    previous = {str(path): Fingerprint(3, T0, "hash-from-the-last-look")}

    assert fingerprint_files([path], previous, now_ns=NOW) == previous


def test_a_rewrite_or_a_fresh_mtime_is_not_trusted(tmp_path: Path) -> None:
    rewritten = write(tmp_path / "rewritten", b"v1")
    just_touched = write(tmp_path / "just_touched", b"v1")
    previous = fingerprint_files([rewritten, just_touched], fingerprint_files([rewritten, just_touched], {}, NOW), NOW)
    write(rewritten, b"v2", T0 + 1)  # same size, mtime moved by one ns
    write(just_touched, b"v1", NOW - SETTLE_NS + 1)  # same content, but modified too recently to trust

    current = fingerprint_files([rewritten, just_touched], previous, now_ns=NOW)

    assert current[str(rewritten)] == Fingerprint(2, T0 + 1, None)
    assert current[str(just_touched)] == Fingerprint(2, NOW - SETTLE_NS + 1, None)


def test_content_key_depends_on_names_and_content_only(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a", b"x"), write(tmp_path / "b", b"x")
    key = content_key(hash_files([a]))
    write(a, b"x", T0 + 5)

    assert content_key(hash_files([a])) == key
    assert content_key(hash_files([b])) != key
    assert len(key) == 16
    with pytest.raises(ValueError, match="files not settled yet: .*/a"):
        content_key(fingerprint_files([a], {}, now_ns=NOW))


def test_cursor_round_trip() -> None:
    prints = {"/data/b": Fingerprint(1, 2, "ff"), "/data/a": Fingerprint(3, 4, None)}

    assert dumps(prints) == '{"/data/a": [3, 4, null], "/data/b": [1, 2, "ff"]}'
    assert loads(dumps(prints)) == prints
    assert loads(None) == {} and loads("") == {}
