"""Hiding a literal ``--secret-hash`` value from this process's title (``/proc/<pid>/cmdline``).

DESIGN's invariant 3 keeps secrets out of process arguments, which any local user reads in
``/proc/<pid>/cmdline`` (and ``ps``). ``courier resend --secret-hash H`` is a contract of
DESIGN's CLI, so it stays, and the entry points (:mod:`worker.console` for the ``courier``
script, :mod:`worker.cli` for ``python -m worker.cli``) call :func:`scrub_argv` before
anything heavy is imported: H becomes ``***`` through ``setproctitle``, the library Celery
uses for its own titles. Only the title other processes read changes; :data:`sys.argv`,
which the parser reads, keeps the value.

A leaf: it imports nothing of the project, so both entry points can load it first.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SECRET_HASH_OPTION", "scrub_argv", "scrubbed"]

SECRET_HASH_OPTION = "--secret-hash"  # noqa: S105 - an option name, no secret
_MASK = "***"


def scrubbed(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` with every literal ``--secret-hash`` value replaced by ``***``.

    ``--secret-hash -`` (read from stdin) is left as it is. Returns ``(arguments, changed)``.
    """
    out: list[str] = []
    changed = False
    mask_next = False
    for arg in argv:
        if mask_next:
            mask_next = False
            if arg != "-":
                out.append(_MASK)
                changed = True
                # `--username --secret-hash --secret-hash H`: the parser may take the
                # second option name as a value; hide what follows it too.
                mask_next = arg == SECRET_HASH_OPTION
                continue
        elif arg == SECRET_HASH_OPTION:
            mask_next = True
        elif arg.startswith(SECRET_HASH_OPTION + "=") and arg != SECRET_HASH_OPTION + "=-":
            out.append(f"{SECRET_HASH_OPTION}={_MASK}")
            changed = True
            continue
        out.append(arg)
    return out, changed


def scrub_argv() -> bool:
    """Hide literal ``--secret-hash`` values from this process's title; True when one was."""
    arguments, changed = scrubbed(sys.argv[1:])
    if changed:
        import setproctitle  # noqa: PLC0415 - a C extension, loaded only when needed

        # While `python -m worker.cli` imports the package, sys.argv[0] is still "-m".
        name = Path(sys.argv[0]).name
        program = "python -m worker.cli" if name in ("-m", "__main__.py") else name or "courier"
        setproctitle.setproctitle(" ".join([program, *arguments]))
    return changed
