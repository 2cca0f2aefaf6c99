"""Credentials on the command line: where ``courier`` reads them, and scrubbing argv.

DESIGN's invariant 3 keeps secrets out of process arguments, which any local user reads
in ``/proc/<pid>/cmdline`` (and ``ps``). ``courier resend`` takes a SecretHash, in order:

1. ``--secret-hash -``: one line read from standard input;
2. ``--secret-hash-file PATH``: the first line of a file;
3. ``--secret-hash H`` (kept for DESIGN's CLI contract): the value itself.
   :mod:`worker.console` rewrites the process title before the CLI is imported
   (``setproctitle``), replacing the value with ``***``, and the command prints a one-line
   warning naming the safer forms. While the interpreter starts the value is still readable
   there: prefer the others;
4. ``COURIER_SECRET_HASH`` in the environment (read only when no option is given;
   ``/proc/<pid>/environ`` is readable by the same user and root only).

``courier verify-attribute`` takes the AccessToken only from a file or standard input
(never as an argument; see :mod:`worker.cli.jobs`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

__all__ = ["LITERAL_WARNING", "SECRET_HASH_ENV", "read_secret_hash"]

SECRET_HASH_OPTION = "--secret-hash"  # noqa: S105 - an option name, no secret
SECRET_HASH_ENV = "COURIER_SECRET_HASH"  # noqa: S105 - a variable name, no secret
LITERAL_WARNING = (
    "warning: --secret-hash with a value puts the SecretHash in the process arguments "
    "(ps, /proc/<pid>/cmdline) until courier hides it; use --secret-hash - (stdin), "
    f"--secret-hash-file PATH or {SECRET_HASH_ENV} instead"
)


def read_secret_hash(literal: str | None, file: Path | None) -> str | None:
    """The SecretHash from the sources in the module's order, or None when none is given.

    Raises:
        typer.BadParameter: both a value and a file are given, the file cannot be read,
            or what was read is empty (naming the source).
    """
    if literal is not None and file is not None:
        raise typer.BadParameter(
            f"give one of {SECRET_HASH_OPTION} or --secret-hash-file, not both"
        )
    if literal == "-":
        return _first_line(sys.stdin.readline(), "standard input (--secret-hash -)")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise typer.BadParameter(f"cannot read --secret-hash-file {file}: {why}") from None
        return _first_line(text, f"--secret-hash-file {file}")
    if literal is not None:
        typer.echo(LITERAL_WARNING, err=True)
        return literal
    from_env = os.environ.get(SECRET_HASH_ENV)
    if from_env is not None:
        return _first_line(from_env, SECRET_HASH_ENV)
    return None


def _first_line(text: str, source: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise typer.BadParameter(f"{source} holds no SecretHash (it is empty)")
    return line
