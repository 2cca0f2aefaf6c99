"""How ``courier --help`` reads: plain text, and command lists with whole summaries.

Every ``courier`` Typer app is made with ``rich_markup_mode=None`` (help strings are plain
text, printed as written, not read as rich markup) and ``cls=SummaryGroup``: click's own
command list cuts a command's help at its first word ending in a period ("e.g.",
"/?Action=...") or at the terminal's width; a :class:`SummaryGroup` lists each command
with its whole summary, wrapped to the terminal.
"""

from __future__ import annotations

from typer._click import Command, Context, HelpFormatter  # typer 0.28 carries its own click
from typer.core import TyperGroup

__all__ = ["SummaryGroup", "summary"]


class SummaryGroup(TyperGroup):
    """A command group whose ``--help`` lists each command with its whole :func:`summary`."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """Write the "Commands" section: one row a visible command, its summary wrapped."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def summary(command: Command) -> str:
    """The command's ``short_help``, else the first paragraph of its help, on one line."""
    text = command.short_help or (command.help or "").split("\n\n", 1)[0]
    return " ".join(text.split())
