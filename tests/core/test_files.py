"""worker.files: private files written whole (0600, temp file + rename, symlinks replaced)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from worker.files import PRIVATE_MODE, private_text_file, write_private_bytes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_text_file_is_private_and_complete(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        target = tmp_path / "report.csv"
        with private_text_file(target, newline="") as handle:
            handle.write("a,b\r\n")
            assert not target.exists()  # nothing visible before the block ends
        assert target.read_bytes() == b"a,b\r\n"
        assert _mode(target) == PRIVATE_MODE
    finally:
        os.umask(old_umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_existing_world_readable_file_becomes_private(tmp_path: Path) -> None:
    target = tmp_path / "state.db"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == PRIVATE_MODE


def test_symlink_at_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious", encoding="utf-8")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    with private_text_file(link) as handle:
        handle.write("report")
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not link.is_symlink()
    assert link.read_text(encoding="utf-8") == "report"
    assert _mode(link) == PRIVATE_MODE


def test_failure_leaves_old_content_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old", encoding="utf-8")

    class Boom(Exception):
        pass

    def write_half() -> None:
        with private_text_file(target) as handle:
            handle.write("half")
            raise Boom

    with pytest.raises(Boom):
        write_half()
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_target_a_directory_raises_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        write_private_bytes(tmp_path / "dir", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private_bytes(tmp_path / "nope" / "x", b"x")
