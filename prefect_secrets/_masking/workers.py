"""Masking across processes Prefect starts (`ProcessPoolTaskRunner` workers): registered
values go with each call into the worker, and the worker's come back with the result.

| direction        | what carries the values                    | registered there              |
|------------------|--------------------------------------------|-------------------------------|
| parent -> worker | the pickled call of each task (every value | as the call is unpickled,     |
|                  | the parent holds when Prefect pickles it)  | before the task's parameters  |
| worker -> parent | the pickled result (the task run's final   | as the result is unpickled,   |
|                  | state): every value the worker holds once  | before the state, so before   |
|                  | the task has run                           | any code can see the result   |

Hook point: the name `cloudpickle` in `prefect.utilities.callables`, replaced by a proxy
whose `dumps` wraps the object with the registered values; unpickled anywhere, the
wrapper registers them, then is the object itself. Prefect sends a call to another
process with `cloudpickle_wrapped_call` (`cloudpickle.dumps((fn, args, kwargs))`), runs
it there with `_run_serialized_call` (`cloudpickle.loads`, the call, then
`cloudpickle.dumps(result)`), and `ProcessPoolTaskRunner` unpickles the result in
`_UnpicklingFuture` (`result()`, `wait()`, `state` and the done callbacks alike). So the
values travel only inside bytes Prefect already pickles and sends through the
executor's pipes: never in env vars, files, command lines or logs.

Why there, and not on `prefect.task_runners._run_task_in_subprocess` (the function
each task runs in the worker):
- `_run_serialized_call` reads the name `cloudpickle` after the task has run. A worker
  whose first value is registered during the task (the parent registered none, so it
  had no hook and sent none) has the proxy by then, and its result carries the value
  back; a replaced task function would be replaced too late for that task. Resolving a
  secret inside the task, from its name, is the pattern the README recommends.
- These ten lines are the same in every Prefect 3 release (3.0 to 3.9): older than
  `ProcessPoolTaskRunner` (3.4.14) and everything around it, which came and moved since
  (`_ChainedFuture` 3.4.24, the worker initializer 3.6.20, user initializers 3.8, the
  split into `_run_task_with_hydrated_context` 3.9).
- The same helper starts flow runs in a subprocess (`flow_engine.run_flow_in_subprocess`),
  which therefore masks the parent's values too.

Each process masks with what it holds, so a worker's console output and the logs and
events it forwards to the parent are masked with the parent's values.

Every call and every result carries every value, not what is new: the parent cannot
know which worker takes a task. Registering a known value again costs ~90 ns; the
payload grows by the values' size (a 1 MB certificate is copied each way per task).
Values registered by a call that raises past Prefect's engine (not a Failed state) do
not come back. The process that unpickles must be able to import this package, as
every process of the same interpreter and `sys.path` can (spawn copies `sys.path`).
"""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._masking.marks import MARK
from prefect_secrets._masking.registry import register_many, registered_values

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

__all__ = ["install_call_pickling_hooks"]

_MARK = MARK


def install_call_pickling_hooks(module: ModuleType) -> None:
    """Hook point: `prefect.utilities.callables.cloudpickle`, replaced by a proxy whose
    `dumps` carries the registered values (see the module docstring)."""
    current = module.cloudpickle
    if getattr(current, _MARK, False):
        return
    setattr(module, "cloudpickle", _CarryingPickler(current))  # noqa: B010 - mypy: ModuleType


class _CarryingPickler:
    """`cloudpickle` as Prefect's call helpers see it: `dumps` adds the registered values,
    everything else is cloudpickle's own."""

    def __init__(self, cloudpickle: Any) -> None:
        self.__wrapped__ = cloudpickle
        setattr(self, _MARK, True)

    def dumps(self, obj: Any, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = self.__wrapped__.dumps(_with_values(obj), *args, **kwargs)
        return data

    def __getattr__(self, name: str) -> Any:
        if name == "__wrapped__":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.__wrapped__, name)

    def __repr__(self) -> str:
        return f"<prefect-secrets masking proxy for {self.__wrapped__!r}>"


def _with_values(obj: Any) -> Any:
    try:
        values = registered_values()
    except Exception as exc:  # noqa: BLE001 - never break the call or its result
        _log_error("add the registered values to a pickled call or result", exc)
        return obj
    return _WithValues(obj, values) if values else obj


class _WithValues:
    """An object and the registered values. Unpickled, it registers the values, then is
    the object itself."""

    __slots__ = ("obj", "values")

    def __init__(self, obj: Any, values: frozenset[str]) -> None:
        self.obj = obj
        self.values = values

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle builds the arguments in order: the registration runs before the object
        # is unpickled, so before any code (an unpickling hook included) can see it.
        return (_second, (_Registration(self.values), self.obj))


class _Registration:
    """Unpickles as the registration of its values (None)."""

    __slots__ = ("values",)

    def __init__(self, values: frozenset[str]) -> None:
        self.values = values

    def __reduce__(self) -> tuple[Any, ...]:
        return (_register, (self.values,))


def _second(_: object, obj: Any) -> Any:
    return obj


def _register(values: frozenset[str]) -> None:
    try:
        register_many(values)
    except Exception as exc:  # noqa: BLE001 - never break the task run
        _log_error("register the values of another process", exc)


def _log_error(action: str, exc: Exception) -> None:
    # The exception's type only: its message could quote a value.
    import logging

    logging.getLogger("prefect_secrets").error(
        "prefect-secrets: could not %s (%s); secret values may appear unmasked in the "
        "output of process-pool tasks",
        action,
        type(exc).__name__,
    )
