"""Progress on stderr for long commands (`import`, `import-prefect1`, `ls`), and Ctrl-C that
stops between two secrets rather than in the middle of one.

Progress shows names and counts, never values, and only when stderr is a terminal
(or `--progress` forces it; `--no-progress` turns it off): pipes and logs get none.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import Parameter

from prefect_secrets._cli.output import is_terminal, out

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["Interrupts", "ProgressBar", "ProgressOption", "progress_enabled", "stop_between_items"]

ProgressOption = Annotated[
    bool | None,
    Parameter(
        help="Show progress on stderr (names and counts, never values). "
        "Default: when stderr is a terminal."
    ),
]


def progress_enabled(option: bool | None) -> bool:
    """`--progress` (True), `--no-progress` (False), or by default: stderr is a terminal."""
    return is_terminal(sys.stderr) if option is None else option


class ProgressBar:
    """A rich progress bar on stderr, or nothing when disabled."""

    def __init__(self, description: str, total: int | None, *, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
            )

            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if total is not None:
                columns += [BarColumn(), MofNCompleteColumn()]
            from rich.console import Console

            # Forced (--progress) onto a pipe, it still draws: a terminal's codes.
            console = (
                out().err if is_terminal(sys.stderr) else Console(stderr=True, force_terminal=True)
            )
            self._progress = Progress(*columns, console=console, transient=True)
            self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def step(self, description: str, advance: int = 0) -> None:
        """Show `description` (a name, a source: never a value) and move on `advance`."""
        if self._progress is not None:
            self._progress.update(self._task, description=description, advance=advance)


class Interrupts:
    """How many Ctrl-C (SIGINT) arrived since `stop_between_items` began."""

    def __init__(self) -> None:
        self.count = 0

    @property
    def stop(self) -> bool:
        return self.count > 0


@contextmanager
def stop_between_items(what: str) -> Iterator[Interrupts]:
    """A first Ctrl-C sets `stop` (the loop ends after the item in hand, which is written
    whole); a second one raises KeyboardInterrupt at once. Outside the main thread (no
    signal handler can be installed), Ctrl-C raises as usual."""
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        interrupts.count += 1
        if interrupts.count > 1:
            raise KeyboardInterrupt
        out().warning(f"interrupted: stopping after the {what} in hand (Ctrl-C again: at once)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)
