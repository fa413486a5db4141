"""Masking in the events Prefect emits (task run states and their messages, run names).

| hook point                                        | what goes through it                  |
|---------------------------------------------------|---------------------------------------|
| `prefect.events.clients.EventsClient.emit`        | every event, on the websocket         |
"""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.references import without_secret_references
from prefect_secrets._masking.registry import current_masker, redact_data

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = ["install_events_hooks"]

_MARK = MARK


def install_events_hooks(module: ModuleType) -> None:
    """Hook point 4: `EventsClient.emit`, the base of every events client.

    Why there: Prefect 3 reports task runs (their states, state messages
    built from exceptions, names) as events over a websocket, not through the
    HTTP client; the server builds its task run rows from them. `emit` is
    defined once on the base class and no client overrides it, so it covers
    the websocket clients (server and Cloud) and the process-pool forwarder.
    The event is rebuilt masked only when it holds a registered value.
    """
    cls = module.EventsClient
    emit = cls.emit
    if getattr(emit, _MARK, False):
        return

    async def masking_emit(self: Any, event: Any) -> None:
        await emit(self, _redact_event(event))

    setattr(masking_emit, _MARK, True)
    masking_emit.__wrapped__ = emit  # type: ignore[attr-defined]
    cls.emit = masking_emit


def _redact_event(event: Any) -> Any:
    masker = current_masker()
    if masker is None:
        return event
    data = event.model_dump(mode="json")
    masked = redact_data(without_secret_references(data, masker), masker)
    if masked is data:
        return event
    return type(event).model_validate(masked)
