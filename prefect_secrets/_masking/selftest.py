"""`prefect-secrets doctor --masking`: every masking hook, checked end to end, here and now.

It registers one fake value (random, `fake-selftest-...`: never a real secret), arms
the hooks as a real lookup does, imports the Prefect modules they plug into, and
sends the value through each way out in this process with this Prefect version:

| check          | what is sent through it                                          |
|----------------|------------------------------------------------------------------|
| log records    | a `logger.warning` with the value, to a handler of its own       |
| log extras     | an `extra={...}` dict printed by the handler's formatter         |
| streams        | a write to `sys.stdout`'s masking proxy (into a buffer)          |
| child processes| a child Python printing the value to the stdout it inherited     |
| Prefect logs   | a record through the filter on Prefect's handlers                |
| API requests   | a log batch built by Prefect's HTTP client                       |
| API refusals   | a Variable holding the value (must be refused)                   |
| events         | an event emitted through `EventsClient.emit`                     |
| truncation     | a long state message cut by Prefect's `truncated_to`             |
| results        | a result holding the value, serialized for result storage        |
| blocks         | `Block._to_block_document` guarded (non-secret fields refused)   |
| process pools  | `ProcessPoolTaskRunner` carries values to and from its workers   |

Each check says "working", "missing" (the hook is not installed: Prefect moved
it, or the module is absent) or "failed" (installed, but the value came out).
Nothing here prints the value or talks to a server.
"""

from __future__ import annotations

import io
import logging
import secrets
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import MASK, register

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["HookCheck", "run_selftest"]


@dataclass(frozen=True)
class HookCheck:
    """The outcome of one check: "working", "missing" or "failed", and why."""

    name: str
    status: str
    detail: str


class _Missing(Exception):
    """The hook is not installed."""


def run_selftest() -> list[HookCheck]:
    """Register a fake value, arm every hook, and check each one (see the module docstring)."""
    value = f"fake-selftest-{secrets.token_hex(12)}"
    register(value)
    for module in _PREFECT_MODULES:
        try:
            __import__(module)
        except ImportError:
            continue  # its check reports the hook as missing
    results = []
    for name, check in _CHECKS:
        try:
            detail = check(value)
        except _Missing as exc:
            results.append(HookCheck(name, "missing", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a check that breaks is reported, not raised
            results.append(HookCheck(name, "failed", f"{type(exc).__name__}: {_clean(exc, value)}"))
        else:
            results.append(HookCheck(name, "working", detail))
    return results


_PREFECT_MODULES = (
    "prefect.logging.configuration",
    "prefect.client.base",
    "prefect.events.clients",
    "prefect.utilities.engine",
    "prefect.results",
    "prefect.blocks.core",
    "prefect.task_runners",
    "prefect.utilities.callables",
)


def _clean(exc: BaseException, value: str) -> str:
    return str(exc).replace(value, MASK)


def _expect_masked(text: str, value: str, where: str) -> str:
    if value in text:
        raise AssertionError(f"the value came out unmasked in {where}")
    if MASK not in text:
        raise AssertionError(f"nothing was masked in {where}")
    return f"masked in {where}"


def _require(obj: Any, attribute: str, what: str) -> Any:
    hooked = getattr(obj, attribute, None)
    if hooked is None or not getattr(hooked, MARK, False):
        raise _Missing(f"{what} is not hooked")
    return hooked


def _check_records(value: str) -> str:
    if not getattr(logging.getLogRecordFactory(), MARK, False):
        raise _Missing("logging.setLogRecordFactory is not hooked")
    return _expect_masked(_log_through(value, extra=False), value, "a log record")


def _check_extras(value: str) -> str:
    _require(logging.Logger, "makeRecord", "logging.Logger.makeRecord")
    return _expect_masked(_log_through(value, extra=True), value, "an extra={...} field")


def _log_through(value: str, *, extra: bool) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s %(check)s" if extra else "%(message)s"))
    logger = logging.getLogger("prefect_secrets.selftest")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        if extra:
            logger.warning("extra:", extra={"check": {"token": value}})
        else:
            logger.warning("token %s", value)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def _check_streams(value: str) -> str:
    from prefect_secrets._masking.streams import MaskingStream

    if not isinstance(sys.stdout, MaskingStream) or not isinstance(sys.stderr, MaskingStream):
        raise _Missing("sys.stdout/sys.stderr are not masking (or mask_streams = false)")
    buffer = io.StringIO()
    MaskingStream(buffer).write(f"print: {value}\n")
    return _expect_masked(buffer.getvalue(), value, "print() and tracebacks")


def _check_children(value: str) -> str:
    """A real child, writing to the descriptor it inherits; fd 1 points at a file meanwhile."""
    import os
    import subprocess
    import tempfile

    _require(subprocess.Popen, "__init__", "subprocess.Popen.__init__")
    child = "import os, sys; sys.stdout.write(os.environ['PREFECT_SECRETS_SELFTEST_VALUE'])"
    env = {**os.environ, "PREFECT_SECRETS_SELFTEST_VALUE": value}
    sys.stdout.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            subprocess.run([sys.executable, "-I", "-c", child], env=env, check=True, timeout=60)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode(errors="replace")
    return _expect_masked(text, value, "what a child process prints")


def _check_prefect_logs(value: str) -> str:
    module = sys.modules.get("prefect.logging.configuration")
    if module is None:
        raise _Missing("Prefect's logging is not importable")
    _require(module, "setup_logging", "prefect.logging.configuration.setup_logging")
    from prefect_secrets._masking.records import RedactingFilter

    handlers = [h for h in logging.getLogger("prefect").handlers + logging.getLogger().handlers]
    if handlers and not all(
        any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers
    ):
        raise _Missing("a handler of Prefect's loggers has no masking filter")
    record = logging.LogRecord("prefect.flow_runs", logging.INFO, "", 0, "x", None, None)
    record.__dict__["flow_run_name"] = value  # set after creation, as Prefect's adapters do
    RedactingFilter().filter(record)
    return _expect_masked(str(record.__dict__["flow_run_name"]), value, "Prefect's handlers")


def _check_api(value: str) -> str:
    module = sys.modules.get("prefect.client.base")
    if module is None:
        raise _Missing("Prefect's API client is not importable")
    _require(module.PrefectHttpxSyncClient, "build_request", "PrefectHttpxSyncClient.build_request")
    _require(
        module.PrefectHttpxAsyncClient, "build_request", "PrefectHttpxAsyncClient.build_request"
    )
    client = module.PrefectHttpxSyncClient(base_url="http://127.0.0.1:9/api")
    try:
        request = client.build_request("POST", "/logs/", json=[{"message": value}])
    finally:
        client.close()
    return _expect_masked(request.content.decode(), value, "a request body")


def _check_refusals(value: str) -> str:
    from prefect_secrets._core.errors import SecretStorageRefused

    module = sys.modules.get("prefect.client.base")
    if module is None:
        raise _Missing("Prefect's API client is not importable")
    client = module.PrefectHttpxSyncClient(base_url="http://127.0.0.1:9/api")
    try:
        client.build_request("POST", "/variables/", json={"name": "x", "value": value})
    except SecretStorageRefused:
        return "a Variable holding the value is refused"
    finally:
        client.close()
    raise AssertionError("a Variable holding the value would be stored")


def _check_events(value: str) -> str:
    module = sys.modules.get("prefect.events.clients")
    if module is None:
        raise _Missing("Prefect's events client is not importable")
    _require(module.EventsClient, "emit", "prefect.events.clients.EventsClient.emit")
    import asyncio

    from prefect.events import Event, Resource

    # Prefect's own in-memory client (a subclass like every other): what it keeps is what
    # a websocket client would have sent.
    event = Event(
        event="prefect-secrets.selftest",
        resource=Resource({"prefect.resource.id": "prefect-secrets.selftest"}),
        payload={"token": value},
    )

    async def emit() -> Any:
        async with module.AssertingEventsClient() as client:
            await client.emit(event)
        return client.events[0]

    return _expect_masked(asyncio.run(emit()).model_dump_json(), value, "an event")


def _check_truncation(value: str) -> str:
    module = sys.modules.get("prefect.utilities.engine")
    if module is None:
        raise _Missing("Prefect's engine utilities are not importable")
    truncated_to: Callable[[int, str], str] = _require(
        module, "truncated_to", "prefect.utilities.engine.truncated_to"
    )
    cut = truncated_to(40, "x" * (20 - len(value) // 2) + value + "y" * 100)
    if value[: len(value) // 2] in cut or value[len(value) // 2 :] in cut:
        raise AssertionError("half of the value came out of a truncated message")
    return "masked before Prefect cuts a message"


def _check_results(value: str) -> str:
    """A result holding the value must not reach result storage: serialize one."""
    module = sys.modules.get("prefect.results")
    if module is None:
        raise _Missing("Prefect's results are not importable")
    _require(module.ResultStore, "persist_result_record", "ResultStore.persist_result_record")
    _require(module.ResultRecord, "serialize_result", "ResultRecord.serialize_result")
    from prefect_secrets._core.errors import SecretStorageRefused

    # Built by hand: a ResultStore would resolve its default storage (a server lookup).
    metadata = module.ResultRecordMetadata(storage_key="prefect-secrets-selftest")
    record = module.ResultRecord(result=f"postgresql://etl:{value}@db/wh", metadata=metadata)
    try:
        record.serialize_result()
    except SecretStorageRefused:
        return "a result holding the value is not written to result storage"
    raise AssertionError("a result holding the value would be written to result storage")


def _check_process_pools(value: str) -> str:
    """What Prefect pickles for a pool's worker carries the values registered here."""
    module = sys.modules.get("prefect.utilities.callables")
    if module is None:
        raise _Missing("Prefect's callables are not importable")
    _require(module, "cloudpickle", "prefect.utilities.callables.cloudpickle")
    payload = module.cloudpickle_wrapped_call(len, "").args[0]
    if value.encode() not in payload:
        raise AssertionError("a task sent to a process pool would not carry the values")
    return "values travel to and from ProcessPoolTaskRunner's workers"


def _check_marked(module_name: str, owner: str, attribute: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        module = sys.modules.get(module_name)
        if module is None:
            raise _Missing(f"{module_name} is not importable")
        _require(getattr(module, owner), attribute, f"{module_name}.{owner}.{attribute}")
        return f"{owner}.{attribute} is hooked"

    return check


_CHECKS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("log records", _check_records),
    ("log extras", _check_extras),
    ("streams", _check_streams),
    ("child processes", _check_children),
    ("Prefect logs", _check_prefect_logs),
    ("API requests", _check_api),
    ("API refusals", _check_refusals),
    ("events", _check_events),
    ("truncation", _check_truncation),
    ("results", _check_results),
    ("blocks", _check_marked("prefect.blocks.core", "Block", "_to_block_document")),
    ("process pools", _check_process_pools),
)
