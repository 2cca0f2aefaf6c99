"""Private files written whole: mode 0600, through a temporary file and a rename.

Reports (``courier campaign report --out``) and saved state are written here so that

- nobody but the owner can read them: the temporary file is created by
  :func:`tempfile.mkstemp`, which opens it ``O_CREAT | O_EXCL`` with mode 0600 whatever
  the umask (Python's documentation of ``mkstemp``);
- a reader never sees half a file: the content goes to the temporary file in the target's
  own folder, is flushed and ``fsync``-ed, then ``os.replace``-d onto the target (an atomic
  ``rename(2)`` on POSIX within one file system);
- a symbolic link at the target is replaced, never followed: ``rename(2)`` replaces the
  directory entry itself, so the link's target is left untouched;
- a failure leaves nothing behind: the temporary file is removed and the target keeps its
  old content (or stays absent).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["PRIVATE_MODE", "private_text_file", "write_private_bytes"]

PRIVATE_MODE = 0o600
"""Mode of every file written here: read and write for the owner only."""


@contextlib.contextmanager
def private_text_file(
    path: str | Path, *, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[IO[str]]:
    """Open a text stream whose content replaces ``path`` (mode 0600) when the block ends.

    The content becomes visible at ``path`` only if the block ends without an exception;
    otherwise the temporary file is removed and ``path`` is left as it was.

    Raises:
        OSError: the folder cannot be written, or the rename fails (e.g. ``path`` is a
            directory).
    """
    with _replacing(path) as fd, os.fdopen(fd, "w", encoding=encoding, newline=newline) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_private_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (mode 0600), atomically (see the module).

    Raises:
        OSError: the folder cannot be written, or the rename fails.
    """
    with _replacing(path) as fd, os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _replacing(path: str | Path) -> Iterator[int]:
    """A 0600 temporary file's descriptor beside ``path``, renamed onto it on success."""
    target = Path(path)
    folder = target.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        yield fd  # the caller's fdopen closes it
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: some file systems refuse to open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
