"""Where masking plugs into logging and Prefect 3.8: the hook points, and why each one.

Installed by `_redaction` once a value has been handed out, right after each
module is imported (never by `import prefect_secrets`). Each hook is
idempotent and only ever masks: it never changes what task code receives.

| hook point                                        | what goes through it                  |
|---------------------------------------------------|---------------------------------------|
| `logging.setLogRecordFactory`                     | every log record, at creation         |
| a filter on the handlers of Prefect's loggers and | every record Prefect prints or ships, |
| the root logger, re-added after each              | at output, incl. `extra` fields set   |
| `prefect.logging.configuration.setup_logging`     | after creation (task/flow run names)  |
| `PrefectHttpxAsyncClient/SyncClient.build_request`| every request body Prefect's client   |
| (`prefect.client.base`)                           | sends: logs, flow run parameters,     |
|                                                   | states and their messages, artifacts  |
| `prefect.events.clients.EventsClient.emit`        | every event (task run states, their   |
|                                                   | messages, run names) on the websocket |

`tests/test_redaction_hooks.py` pins each one down, so that a Prefect release
that moves one fails there first.
"""

from __future__ import annotations

import logging

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._masking.registry import current_masker, redact, redact_data

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = [
    "RedactingFilter",
    "install_events_hooks",
    "install_http_hooks",
    "install_logging_hooks",
    "install_prefect_logging_hooks",
    "redact_record",
]

# Marks what this module installed, so that installing twice is a no-op.
_MARK = "_prefect_secrets_masking"


# --- logging ------------------------------------------------------------------------------------

_traceback_formatter = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Mask registered values in `record`, in place: message, arguments, traceback, extras.

    The message is formatted here (`msg % args`) so that `%s`/`%r` arguments,
    f-strings and `print` captured by `log_prints` are all masked as the text
    they become; the record keeps its arguments when nothing is masked.
    """
    masker = current_masker()
    if masker is None:
        return
    if record.args:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - whatever str() of an argument raises
            # The handler will report the formatting error, printing msg and args:
            # show it the masked text of both instead.
            record.msg = redact(f"{record.msg} (arguments: {record.args!r})")
            record.args = ()
            message = None
        if message is not None and masker.found_in(message):
            record.msg = masker.mask(message)
            record.args = ()
    elif not isinstance(record.msg, str):
        text = str(record.msg)
        if masker.found_in(text):
            record.msg = masker.mask(text)
    exc_info = record.exc_info
    if exc_info and exc_info[0] is not None and not record.exc_text:
        text = _traceback_formatter.formatException(exc_info)
        if masker.found_in(text):
            # Formatters print exc_text when it is set; dropping exc_info keeps
            # formatters that render the exception themselves (JSON) from
            # printing its unmasked message.
            record.exc_text = masker.mask(text)
            record.exc_info = None
    fields = record.__dict__
    for key, value in fields.items():
        if type(value) is str and masker.found_in(value):
            fields[key] = masker.mask(value)


class RedactingFilter(logging.Filter):
    """Masks registered values in every record that reaches the handler it is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _filter_handlers(logger_names: list[str]) -> None:
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logger_names)]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


def install_logging_hooks(module: ModuleType) -> None:
    """Hook point 1: the log record factory, and the root logger's handlers.

    Why the record factory: every record of every logger is created by it,
    whoever added the handlers that will print it and whenever (pytest's,
    the user's, a file handler added after Prefect configured logging).
    Masking there, before any handler runs, leaves no ordering gap.
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, _MARK, False):

        def masking_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            redact_record(record)
            return record

        setattr(masking_record_factory, _MARK, True)
        logging.setLogRecordFactory(masking_record_factory)
    _filter_handlers([])


def install_prefect_logging_hooks(module: ModuleType) -> None:
    """Hook point 2: a filter on the handlers of Prefect's loggers and of the root logger.

    Why there: these handlers are where Prefect's records leave the process
    (`APILogHandler` ships them to the API, `PrefectConsoleHandler` prints
    them), and a filter sees the record as they format it, including fields
    added after creation (`extra`: flow and task run names). Prefect builds
    new handlers in `setup_logging` (at `import prefect`, and again in some
    entry points), so the filters are re-added after each call.
    """
    setup_logging = module.setup_logging
    if not getattr(setup_logging, _MARK, False):

        def masking_setup_logging(*args: Any, **kwargs: Any) -> dict[str, Any]:
            config: dict[str, Any] = setup_logging(*args, **kwargs)
            _filter_prefect_handlers(config)
            return config

        masking_setup_logging.__wrapped__ = setup_logging  # type: ignore[attr-defined]
        masking_setup_logging.__doc__ = setup_logging.__doc__
        setattr(masking_setup_logging, _MARK, True)
        setattr(module, "setup_logging", masking_setup_logging)  # noqa: B010 - mypy: not on ModuleType
    _filter_prefect_handlers(module.PROCESS_LOGGING_CONFIG)


def _filter_prefect_handlers(config: dict[str, Any]) -> None:
    names = set(config.get("loggers", {}))
    names.update(
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name == "prefect" or name.startswith("prefect.")
    )
    _filter_handlers(sorted(names))


# --- the API client -----------------------------------------------------------------------------

# Prefect stores secrets in block documents on purpose (encrypted at rest);
# masking there would save "********" as the secret.
_UNMASKED_PATHS = ("/block_documents",)


def install_http_hooks(module: ModuleType) -> None:
    """Hook point 3: `build_request` of Prefect's httpx clients (async and sync).

    Why there: every call of Prefect's API client (`PrefectClient`,
    `SyncPrefectClient`, the log worker's `create_logs`) builds its request
    with it, through `client.request()`, `client.post()` or the route
    helpers, and the body is still a Python object there (`json=`), so values
    are masked inside strings, not in serialized bytes. Only Prefect's own
    client classes are patched: this library's and the user's httpx clients
    are untouched. Block documents are left as they are (see above).
    """
    for cls in (module.PrefectHttpxAsyncClient, module.PrefectHttpxSyncClient):
        build_request = cls.build_request
        if getattr(build_request, _MARK, False):
            continue

        def masking_build_request(
            self: Any, method: str, url: Any, *args: Any, _build: Any = build_request, **kwargs: Any
        ) -> Any:
            if not any(path in str(url) for path in _UNMASKED_PATHS):
                if kwargs.get("json") is not None:
                    kwargs["json"] = redact_data(kwargs["json"])
                if isinstance(kwargs.get("content"), (str, bytes)):
                    kwargs["content"] = _redact_content(kwargs["content"])
            return _build(self, method, url, *args, **kwargs)

        setattr(masking_build_request, _MARK, True)
        masking_build_request.__wrapped__ = build_request  # type: ignore[attr-defined]
        cls.build_request = masking_build_request


def _redact_content(content: str | bytes) -> str | bytes:
    """A body that is already serialized: masked as JSON when it is JSON, else as text."""
    masker = current_masker()
    if masker is None:
        return content
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if not masker.found_in(text):
        return content
    import orjson

    try:
        masked = orjson.dumps(redact_data(orjson.loads(content), masker))
    except orjson.JSONDecodeError:
        masked = masker.mask(text).encode()
    return masked if isinstance(content, bytes) else masked.decode()


# --- events -------------------------------------------------------------------------------------


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
    masked = redact_data(data, masker)
    if masked is data:
        return event
    return type(event).model_validate(masked)
