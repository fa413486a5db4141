"""Masking in log records: every record of every logger, whoever prints it.

| hook point                                        | what goes through it                  |
|---------------------------------------------------|---------------------------------------|
| `logging.setLogRecordFactory`                     | every log record, at creation:        |
|                                                   | message, arguments, traceback         |
| `logging.Logger.makeRecord`                       | the `extra={...}` fields, set after   |
|                                                   | the factory ran: str, dict, list...   |
| a filter on the handlers of Prefect's loggers and | every record Prefect prints or ships, |
| the root logger, re-added after each              | at output, incl. fields set after     |
| `prefect.logging.configuration.setup_logging`     | creation (task/flow run names)        |

The record itself is masked, so every handler sees it masked: the user's own
handlers on their own loggers (a `FileHandler`), Prefect's JSON console
formatter (which prints `record.__dict__`, extras and arguments included).
"""

from __future__ import annotations

import logging

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import current_masker, redact, redact_data

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from prefect_secrets._masking.matcher import Masker

__all__ = [
    "RedactingFilter",
    "install_logging_hooks",
    "install_prefect_logging_hooks",
    "redact_record",
]

_MARK = MARK

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
        elif isinstance(record.args, dict):
            # A mapping argument holds keys the message does not use, and formatters
            # that print the record's fields (JSON) print them: mask them too.
            record.args = redact_data(record.args, masker)
    else:
        text = record.msg if type(record.msg) is str else str(record.msg)
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
    _redact_fields(record, masker)


# What a LogRecord holds of its own: numbers, the logger's name, the source location,
# the thread and process names, or what is handled above (msg, args, exc_text).
# Checking them would cost one search each per record (10 of them), for nothing.
_OWN_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
_PLAIN = (int, float, bool, type(None))


def _redact_fields(record: logging.LogRecord, masker: Masker) -> None:
    """Mask registered values in every field of `record` other than its own: `extra`."""
    fields = record.__dict__
    for key in fields.keys() - _OWN_FIELDS:  # most records have none
        value = fields[key]
        if isinstance(value, _PLAIN):
            continue
        if type(value) is str:
            if masker.found_in(value):
                fields[key] = masker.mask(value)
        elif isinstance(value, (dict, list, tuple, set, frozenset)):
            fields[key] = redact_data(value, masker)
        else:
            # An object a formatter will print with str(): print it masked, or as it is.
            text = str(value)
            if masker.found_in(text):
                fields[key] = masker.mask(text)


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
    _wrap_make_record()
    _filter_handlers([])


def _wrap_make_record() -> None:
    """`extra` fields are set on the record by `Logger.makeRecord` after the factory made
    it: mask them there, for every logger (subclasses included: they inherit it)."""
    make_record = logging.Logger.makeRecord
    if getattr(make_record, _MARK, False):
        return

    def masking_make_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(self, *args, **kwargs)
        extra = kwargs.get("extra", args[8] if len(args) > 8 else None)
        if extra:
            masker = current_masker()
            if masker is not None:
                _redact_fields(record, masker)
        return record

    setattr(masking_make_record, _MARK, True)
    masking_make_record.__wrapped__ = make_record  # type: ignore[attr-defined]
    logging.Logger.makeRecord = masking_make_record  # type: ignore[method-assign]


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
