"""Fingerprints notice new and changed content, and ignore a moved mtime on identical bytes."""

import hashlib
import os
from pathlib import Path

from hybridrec_ml.data.fingerprints import Fingerprint, changed_files, content_key, dumps, fingerprint_files, loads


def test_a_file_is_fingerprinted_by_size_mtime_and_sha256(tmp_path: Path) -> None:
    path = tmp_path / "Electronics_5.json.gz"
    path.write_bytes(b"abc")
    os.utime(path, ns=(1_000, 2_000))

    assert fingerprint_files([path], {}) == {str(path): Fingerprint(3, 2_000, hashlib.sha256(b"abc").hexdigest())}


def test_an_unmoved_file_keeps_its_previous_hash_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "reviews"
    path.write_bytes(b"abc")
    os.utime(path, ns=(1_000, 2_000))
    previous = {str(path): Fingerprint(3, 2_000, "hash-from-the-last-look")}

    assert fingerprint_files([path], previous) == previous


def test_only_new_or_rewritten_content_counts_as_changed(tmp_path: Path) -> None:
    same, touched, rewritten, new = (tmp_path / name for name in ("same", "touched", "rewritten", "new"))
    for path in (same, touched, rewritten, new):
        path.write_bytes(b"v1")
    previous = fingerprint_files([same, touched, rewritten], {})
    os.utime(touched, ns=(5, 5))
    rewritten.write_bytes(b"v2")

    current = fingerprint_files([same, touched, rewritten, new], previous)

    assert changed_files(previous, current) == [str(new), str(rewritten)]
    assert current[str(touched)].mtime_ns == 5


def test_content_key_depends_on_names_and_content_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x")
    b.write_bytes(b"x")
    key = content_key(fingerprint_files([a], {}))
    os.utime(a, ns=(7, 7))

    assert content_key(fingerprint_files([a], {})) == key
    assert content_key(fingerprint_files([b], {})) != key
    assert len(key) == 16


def test_cursor_round_trip(tmp_path: Path) -> None:
    prints = {"/data/b": Fingerprint(1, 2, "ff"), "/data/a": Fingerprint(3, 4, "ee")}

    assert dumps(prints) == '{"/data/a": [3, 4, "ee"], "/data/b": [1, 2, "ff"]}'
    assert loads(dumps(prints)) == prints
    assert loads(None) == {} and loads("") == {}
