"""The ``courier`` console script: hide a literal ``--secret-hash`` value, then run the CLI.

The scrub (:mod:`worker.proctitle`) comes before the CLI's imports (typer, rich, pydantic,
Celery: most of a second, longer on a loaded host), so the value is readable in
``/proc/<pid>/cmdline`` only while the interpreter starts. The safer forms
(``--secret-hash -``, ``--secret-hash-file``, COURIER_SECRET_HASH; :mod:`worker.cli.secrets`)
never put it there at all.
"""

from __future__ import annotations

from worker.proctitle import scrub_argv

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``courier`` console script (then :func:`worker.cli.main`)."""
    scrub_argv()
    from worker.cli import main as cli_main  # noqa: PLC0415 - after the scrub, on purpose

    cli_main()
