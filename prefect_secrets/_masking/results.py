"""Result persistence: what Prefect writes to result storage never holds a secret value.

Prefect writes results as files (`~/.prefect/storage/<key>` by default, mode 0644) and
hands them back later. Masking them would hand back `********` as the result, so a
record holding a registered value is not written at all, or refused:

| pathway (Prefect 3.9.1)                                   | outcome                        |
|-----------------------------------------------------------|--------------------------------|
| a task's result: `persist_result=True`, a `cache_policy`, | skipped, warned once per task  |
| `cache_key_fn`, `result_storage_key`,                     |                                |
| `PREFECT_RESULTS_PERSIST_BY_DEFAULT`; any serializer      |                                |
| a flow's result (`persist_result=True`)                   | skipped, warned once per flow  |
| a failed task's exception (`persist_result=True`)         | skipped, warned once per task  |
| a failed flow's exception (always written:                | skipped, warned once per flow  |
| `FlowRunEngine.handle_exception`, `write_result=True`)    |                                |
| a `result_storage_key` that holds a value (the file name) | skipped, warned once per task  |
| a deferred task's parameters (`Task.delay`,               | refused: `SecretStorageRefused`|
| `apply_async`: `task_worker.store_parameters`)            | from the `.delay()` call       |

| hook point                                             | what it does                   |
|--------------------------------------------------------|--------------------------------|
| `ResultRecord.serialize_result` (`serialize()` calls   | finds a value in the bytes     |
| it), from `prefect.results` (any 3.x) and              | about to be written; raises    |
| `prefect._internal.result_records` (3.7+)              | `SecretInResult`               |
| `prefect.results:ResultStore.persist_result_record`,   | skips the write on that error, |
| `apersist_result_record` (`write`/`awrite` and every   | or when the storage key holds  |
| engine, state and transaction path call them)          | a value                        |
| `prefect.task_worker:store_parameters`                 | turns it into a refusal that   |
|                                                        | names the task and parameter   |

Every write of a result record goes through `serialize_result`, so it is where a value
is found: in what the serializer produced, undone down to where a `str` is its UTF-8
bytes (pickle: base64 decoded; `compressed/*`: decompressed; JSON: escaped, which the
masker's spellings cover), so one serialization serves both the check and the write.
Checking costs a base64 decode and one regex pass over the result.

Why skip results: persistence is a cache. The run keeps the value in memory
(downstream tasks, `state.result()` in the same process, get the real value), and a
cache lookup later simply misses and runs the task again. Refusing would fail tasks
and flows that worked (persistence by default is often set for a whole workspace);
for a failing task or flow Prefect catches any write error anyway ("Failed to write
result ... Execution will continue"), so a refusal would only be a noisier skip.
Why refuse deferred parameters: the task worker must read them back; skipping the
file would make the task fail later, in another process, far from the cause.

What the user sees after a skip: one warning per task or flow name on the
`prefect_secrets` logger, naming it (never the value); the run ends as it would have
(retries, SERIALIZABLE cache locks and transactions go on: the transaction commits).
The state sent to the API still references the record (Prefect does so whenever
persistence is on), so reading the result from another process (`state.result()` of
a state fetched from the API, a task worker's `future.result()`) retries for ~2.5 s,
then raises Prefect's `ValueError("Path ... does not exist.")`: an error, never a
wrong value. After a refusal: `SecretStorageRefused` from `.delay()`, naming the task
and the parameters that hold a value; no task run is created.

Limits: strings only (a number is not registered); values shorter than
`min_mask_length` and the opt-in token patterns are not looked for; a custom
serializer that neither writes plain bytes nor base64 (encryption) is checked as
written, which is not plaintext.
"""

from __future__ import annotations

import base64
import binascii
import logging
import sys

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretStorageRefused
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import current_masker, redact

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = [
    "SecretInResult",
    "install_result_record_hooks",
    "install_result_store_hooks",
    "install_task_worker_hooks",
]

_MARK = MARK
_logger = logging.getLogger("prefect_secrets")
# The runs (task or flow names) already warned about: once each, per process.
_warned: set[str] = set()


class SecretInResult(SecretStorageRefused):
    """A result record holds a secret value: not written to result storage.

    Raised by `ResultRecord.serialize_result`; the result store skips the write on
    it, `Task.delay` turns it into a refusal. Any other caller gets a refusal.
    """


def install_result_record_hooks(module: ModuleType) -> None:
    """Hook point: `ResultRecord.serialize_result`, `module` being
    `prefect._internal.result_records` (3.7+) or `prefect.results` (any 3.x).

    Why there: `ResultRecord.serialize()` (a whole record: what the result store and
    `store_parameters` write) and the result store's split writes (result and metadata
    apart) all serialize the result through it, right before writing. The class is
    defined in `prefect._internal.result_records` from 3.7, in `prefect._result_records`
    in 3.2-3.6; `prefect.results` re-exports it on every 3.x (the same object), so
    arming hooks it from there too: whichever runs first hooks it, the other finds the mark.
    """
    cls = module.ResultRecord
    serialize_result = cls.serialize_result
    if getattr(serialize_result, _MARK, False):
        return

    def checked_serialize_result(self: Any) -> bytes:
        data: bytes = serialize_result(self)
        if _holds_value(data, self.serializer):
            raise SecretInResult(
                f"prefect-secrets: refused to write {_what(self.result)} of {_run_name()} to "
                "result storage: it holds a secret value, which result storage keeps "
                "readable. Keep the value out of what is persisted (return or pass the "
                "secret's name and resolve it where it is used), or set persist_result=False."
            )
        return data

    setattr(checked_serialize_result, _MARK, True)
    checked_serialize_result.__wrapped__ = serialize_result  # type: ignore[attr-defined]
    cls.serialize_result = checked_serialize_result


def install_result_store_hooks(module: ModuleType) -> None:
    """Hook point: `ResultStore.persist_result_record` and `apersist_result_record`
    (`prefect.results`).

    Why there: every result write calls one of them: `write`/`awrite`, the states
    helpers (`return_value_to_state`, `exception_to_failed_state`, sync and async),
    the task engine's failure records and transaction commits. A record found to hold
    a value, or whose storage key (the file name) does, is not written; the record
    stays unpersisted, as when persistence is off, and the call returns normally.
    """
    cls = module.ResultStore
    persist = cls.persist_result_record
    if not getattr(persist, _MARK, False):

        def skipping_persist_result_record(
            self: Any, result_record: Any, *args: Any, **kwargs: Any
        ) -> None:
            if _key_holds_value(result_record):
                return _skipped(result_record, key=True)
            try:
                persist(self, result_record, *args, **kwargs)
            except SecretInResult:
                _skipped(result_record)

        setattr(skipping_persist_result_record, _MARK, True)
        skipping_persist_result_record.__wrapped__ = persist  # type: ignore[attr-defined]
        cls.persist_result_record = skipping_persist_result_record

    apersist = cls.apersist_result_record
    if not getattr(apersist, _MARK, False):

        async def skipping_apersist_result_record(
            self: Any, result_record: Any, *args: Any, **kwargs: Any
        ) -> None:
            if _key_holds_value(result_record):
                return _skipped(result_record, key=True)
            try:
                await apersist(self, result_record, *args, **kwargs)
            except SecretInResult:
                _skipped(result_record)

        setattr(skipping_apersist_result_record, _MARK, True)
        skipping_apersist_result_record.__wrapped__ = apersist  # type: ignore[attr-defined]
        cls.apersist_result_record = skipping_apersist_result_record


def install_task_worker_hooks(module: ModuleType) -> None:
    """Hook point: `store_parameters` (`prefect.task_worker`), which `Task.create_run`
    imports at each call (`deferred=True`: `Task.delay`, `Task.apply_async`).

    Why there: it writes a deferred task's parameters, with the serialized run context
    (the calling flow's parameters included), for a task worker to read back. The
    record is refused by `serialize_result` already; this says which task, and which
    of its parameters, before the task run is created.
    """
    store_parameters = module.store_parameters
    if getattr(store_parameters, _MARK, False):
        return

    async def refusing_store_parameters(
        result_store: Any, identifier: Any, parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        try:
            await store_parameters(result_store, identifier, parameters, *args, **kwargs)
        except SecretInResult:
            task_name = _deferring_task_name()
            raise SecretStorageRefused(
                _deferred_refusal(task_name, parameters, result_store.serializer)
            ) from None

    setattr(refusing_store_parameters, _MARK, True)
    refusing_store_parameters.__wrapped__ = store_parameters  # type: ignore[attr-defined]
    setattr(module, "store_parameters", refusing_store_parameters)  # noqa: B010 - mypy: not on ModuleType


# --- finding a value in what a serializer wrote --------------------------------------------------


def _holds_value(data: bytes, serializer: Any) -> bool:
    """Whether serialized `data` holds a registered value. Never raises: a failed check
    lets the write happen, with an error logged (masking must not break a run)."""
    masker = current_masker()
    if masker is None:
        return False
    try:
        return any(masker.found_in_bytes(view) for view in _plain_views(data, serializer))
    except Exception as exc:  # noqa: BLE001 - see the docstring
        _logger.error(
            "prefect-secrets: could not check a result for secret values before it is "
            "written to result storage (%s); it is written unchecked",
            type(exc).__name__,
        )
        return False


def _plain_views(data: bytes, serializer: Any) -> list[bytes]:
    """What `serializer` wrote, undone down to where a str is its UTF-8 bytes."""
    from prefect.serializers import CompressedSerializer, JSONSerializer, PickleSerializer
    from prefect.utilities.importtools import from_qualified_name

    if isinstance(serializer, CompressedSerializer):
        compressor = from_qualified_name(serializer.compressionlib)
        try:
            inflated = compressor.decompress(base64.decodebytes(data))
        except Exception:  # noqa: BLE001 - not what Prefect writes: checked as it is
            return [data]
        return _plain_views(inflated, serializer.serializer)
    if isinstance(serializer, PickleSerializer):
        # base64 with a line break every 76 characters: a value is split across lines.
        return [base64.decodebytes(data)]
    if isinstance(serializer, JSONSerializer):
        return [data]  # the masker knows the JSON escapes of each value
    # Another serializer: as written, and base64-decoded in case it encodes so.
    try:
        return [data, base64.decodebytes(data)]
    except (binascii.Error, ValueError):
        return [data]


def _key_holds_value(result_record: Any) -> bool:
    """Whether the record's storage key (its file name) holds a registered value."""
    masker = current_masker()
    if masker is None:
        return False
    try:
        key = result_record.metadata.storage_key
        return isinstance(key, str) and masker.found_in_bytes(key.encode("utf-8", "surrogatepass"))
    except Exception as exc:  # noqa: BLE001 - as in _holds_value
        _logger.error(
            "prefect-secrets: could not check a result storage key for secret values (%s)",
            type(exc).__name__,
        )
        return False


# --- what the user is told -----------------------------------------------------------------------


def _what(result: Any) -> str:
    if isinstance(result, BaseException):
        return "the exception"
    return "the result"


def _run_name() -> str:
    """`task 'name'` or `flow 'name'` of the run being persisted (names, never values)."""
    name = "a result written outside any run"
    try:
        from prefect.context import FlowRunContext, TaskRunContext

        task_run = TaskRunContext.get()
        flow_run = FlowRunContext.get()
        if task_run is not None:
            name = f"task {task_run.task.name!r}"
        elif flow_run is not None and flow_run.flow is not None:
            name = f"flow {flow_run.flow.name!r}"
    except Exception:  # noqa: BLE001 - the name is a courtesy; the rule holds without it
        pass
    return redact(name)


# What a skip means, and how to avoid it, per what was skipped.
_SKIPPED = {
    "the result": (
        "the run goes on with the result in memory; a cache lookup, or a read of this "
        "result from another process (state.result() of a state fetched from the API), "
        "will not find it",
        "return the secret's name and resolve it where it is used, or set "
        "persist_result=False (and no cache_policy)",
    ),
    "the exception": (
        "the run fails as it would have; a read of this exception from another process "
        "will not find it",
        "leave the value out of the exception's message (Prefect always persists the "
        "exception of a failed flow)",
    ),
    "the result storage key": (
        "the run goes on with the result in memory; a cache lookup will not find it",
        "keep secret values out of result_storage_key and cache keys",
    ),
}


def _skipped(result_record: Any, key: bool = False) -> None:
    """Warn, once per task or flow name, that a record was not written."""
    what = "the result storage key" if key else _what(result_record.result)
    run = _run_name()
    if run in _warned:
        return
    _warned.add(run)
    consequence, fix = _SKIPPED[what]
    _logger.warning(
        "prefect-secrets: %s of %s holds a secret value, so it was not written to result "
        "storage (which keeps files readable); %s. To have it persisted, %s. (Shown once "
        "per task or flow.)",
        what,
        run,
        consequence,
        fix,
    )


def _deferring_task_name() -> str | None:
    """The name of the task whose `create_run` awaits `store_parameters` (its frame's
    `self`), for the refusal's message; None when it cannot be told."""
    try:
        from prefect.tasks import Task

        frame = sys._getframe(1)
        for _ in range(8):
            if frame is None:
                break
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, Task):
                return str(candidate.name)
            frame = frame.f_back  # type: ignore[assignment]
    except Exception:  # noqa: BLE001 - a courtesy: the refusal stands without a name
        pass
    return None


def _deferred_refusal(task_name: str | None, stored: dict[str, Any], serializer: Any) -> str:
    """The refusal of `Task.delay`: which task, and where the value is (parameter names)."""
    task = f"task {task_name!r}" if task_name else "a task"
    where = "the run context Prefect stores with its parameters (the calling flow's parameters)"
    parameters = stored.get("parameters") or {}
    holding = [name for name, value in parameters.items() if _serialized_holds(value, serializer)]
    if holding:
        names = ", ".join(repr(name) for name in holding)
        where = f"its parameter{'s' if len(holding) > 1 else ''} {names}"
    elif stored.get("wait_for") and _serialized_holds(stored["wait_for"], serializer):
        where = "its wait_for"
    return redact(
        f"prefect-secrets: refused to defer {task} (Task.delay / apply_async): {where} "
        "holds a secret value, and Prefect writes a deferred task's parameters to result "
        "storage, readable, for the task worker to read back. Pass the secret's name "
        "instead and resolve it inside the task (Secret(name).get())."
    )


def _serialized_holds(value: Any, serializer: Any) -> bool:
    try:
        return _holds_value(serializer.dumps(value), serializer)
    except Exception:  # noqa: BLE001 - unserializable alone: not the one to name
        return False
