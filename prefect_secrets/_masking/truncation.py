"""Masking before Prefect truncates a message: a value cut in two is found by no one.

Prefect cuts long state messages to their first and last 50,000 characters
(`prefect.utilities.text.truncated_to`) before it puts them in the event of a
task run's state change (`prefect.utilities.engine.emit_task_run_state_change_event`),
from which the server builds the task run's state. A secret that straddles the
cut reaches the event as two halves, and no later hook can recognise either.

Hook point: `truncated_to`, in `prefect.utilities.text` and where
`prefect.utilities.engine` imported it, so that what it cuts is masked first.
"""

from __future__ import annotations

import sys

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import redact

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["install_truncation_hooks"]


def install_truncation_hooks(module: ModuleType) -> None:
    """Wrap `truncated_to` where `prefect.utilities.engine` (`module`) calls it."""
    text_module = sys.modules.get("prefect.utilities.text")
    for owner in (module, text_module):
        if owner is None:
            continue
        truncated_to = owner.truncated_to
        if getattr(truncated_to, MARK, False):
            continue

        def masking_truncated_to(
            length: int, value: str | None, _truncate: object = truncated_to
        ) -> str:
            masked = redact(value) if value else value
            return _truncate(length, masked)  # type: ignore[operator, no-any-return]

        setattr(masking_truncated_to, MARK, True)
        masking_truncated_to.__wrapped__ = truncated_to  # type: ignore[attr-defined]
        setattr(owner, "truncated_to", masking_truncated_to)  # noqa: B010 - mypy: not on ModuleType
