"""What every command shares: exit codes, the one-line `CliError`, output, and confirmation.

stdout carries results, stderr errors, warnings and notes, so that pipes get
results only. Everything printed through rich is a `Text`, never markup: a
name, path or table like `[context.secrets]` prints as written.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = [
    "EXIT_BAD_SETTING",
    "EXIT_CODES",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_SOURCE_FAILED",
    "EXIT_USAGE",
    "CliError",
    "Output",
    "confirm",
    "is_terminal",
    "out",
    "reset_output",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_SOURCE_FAILED = 4
EXIT_BAD_SETTING = 5
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "unexpected error (a bug: run again with --debug to see the traceback)",
    EXIT_USAGE: "bad usage: unknown command or option, invalid name, missing or invalid "
    "value, declined or missing confirmation (--yes), a store that cannot do it",
    EXIT_NOT_FOUND: "not found: no source has the secret, or it is not where "
    "delete or import-prefect1 looked",
    EXIT_SOURCE_FAILED: "a source failed: config file unreadable or malformed, Prefect "
    "server unreachable, refusing or not configured (doctor: something to fix)",
    EXIT_BAD_SETTING: "a setting is invalid (an env var or the file's [settings])",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); nothing half-written",
}


class CliError(Exception):
    """A failure to report as one line, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


# Piped output is not wrapped at 80 columns: a wrapped path breaks grep and cut.
_PIPED_WIDTH = 10_000


class Output:
    """The two consoles, and one method per kind of line."""

    def __init__(self) -> None:
        from rich.console import Console

        self.out: Console = Console(highlight=False)
        self.err: Console = Console(highlight=False, stderr=True)

    @staticmethod
    def text(message: str, style: str = "") -> Text:
        # Text, not markup: a path or name with "[...]" must print as written.
        from rich.text import Text

        return Text(message, style=style)

    def line(self, text: Text) -> None:
        """One line of results; when piped, not wrapped (a wrapped path breaks grep)."""
        self.out.print(text, soft_wrap=not is_terminal(sys.stdout))

    def success(self, message: str) -> None:
        self.line(self.text(message, "green"))

    def info(self, message: str, style: str = "") -> None:
        self.line(self.text(message, style))

    def _err_line(self, text: Text) -> None:
        self.err.print(text, soft_wrap=not is_terminal(sys.stderr))

    def warning(self, message: str) -> None:
        self._err_line(self.text(f"Warning: {message}", "yellow"))

    def note(self, message: str) -> None:
        self._err_line(self.text(f"Note: {message}", "yellow"))

    def error(self, message: str) -> None:
        self._err_line(self.text(f"Error: {message}", "red"))

    def table(self, table: Any) -> None:
        """A rich table; when piped, as wide as its content instead of 80 columns."""
        if is_terminal(sys.stdout) or os.environ.get("COLUMNS"):
            self.out.print(table)
            return
        from rich.console import Console

        # Console.print(width=) cannot go beyond the console's own width.
        Console(highlight=False, width=_PIPED_WIDTH).print(table)

    def raw(self, text: str) -> None:
        """Print exactly `text` and a newline: values and JSON, never through rich."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def raw_bytes(self, data: bytes) -> None:
        """Write exactly `data`, no newline: a binary value, as `get --reveal > file` keeps it."""
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def json(self, payload: Any) -> None:
        import json

        self.raw(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


_output: Output | None = None


def out() -> Output:
    """The output of the command being run."""
    global _output
    if _output is None:
        _output = Output()
    return _output


def reset_output() -> Output:
    """New consoles for a new command (tests run several in one process)."""
    global _output
    _output = Output()
    return _output


def confirm(question: str, yes: bool, *, refused: str) -> None:
    """Go ahead with something that destroys or replaces a secret, only when allowed.

    `--yes` goes ahead. On a terminal the user is asked (as `prefect block
    delete` does). Anywhere else (a script, a pipe, /dev/null on stdin) the
    command refuses with exit 2, telling to pass --yes: nothing is ever lost
    silently. `refused` says what was not done ("nothing deleted").
    """
    if yes:
        return
    if not (is_terminal(sys.stdin) and is_terminal(sys.stdout)):
        raise CliError(
            f"{question.rstrip('?')}: not confirmed, {refused}. Pass --yes to do it "
            "without a prompt (no terminal to ask on)",
            EXIT_USAGE,
        )
    from rich.prompt import Confirm

    # A Text prompt: rich would read "[context.secrets]" in a str prompt as markup.
    if not Confirm.ask(out().text(question), console=out().out, default=False):
        raise CliError(f"not confirmed; {refused}", EXIT_USAGE)
