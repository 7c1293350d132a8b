import os
import stat

import pytest

from hybridrec_ml.atomic import atomic_file, atomic_write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "report.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError, match="disk gone"):
        with atomic_file(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("disk gone")
    assert target.read_text() == "old"
    assert sorted(os.listdir(target.parent)) == ["report.json"]


def test_a_write_replaces_the_file_with_the_requested_mode(tmp_path):
    target = atomic_write_text(tmp_path / "new" / "page.html", "é", mode=0o644)
    assert target.read_bytes() == "é".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(atomic_write_text(tmp_path / "private.txt", "x").stat().st_mode) == 0o600
