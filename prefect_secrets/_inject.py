"""`with_secrets`: put secrets into a task's environment or files for as long as it runs.

    from prefect import task
    from prefect_secrets import Secret, with_secrets

    @task
    @with_secrets(
        Secret("API_KEY", as_env_var="SERVICE_API_KEY"),    # env var SERVICE_API_KEY = value
        Secret("GCP_KEY_JSON", as_file=True),               # file (0600) in a private dir;
    )                                                       # env var GCP_KEY_JSON = its path
    def call_service() -> None:
        subprocess.run(["service-cli", "sync"], check=True)  # a child process sees them too

As Flyte's `Secret(key=..., as_env_var=...)` and file mounts. Works as a
decorator on sync and async functions and on Prefect tasks, and as a context
manager (`with` / `async with`). Everything is resolved before anything is
changed, and restored (env vars) or removed (files and their directory) on
exit, also when the body raises. Values are registered for masking like
every value the library hands out.

Limits, honestly: env vars belong to the whole process. Two tasks running at
the same time in threads of one process (Prefect's default
ThreadPoolTaskRunner, or async tasks in one event loop) that inject
*different* values into the *same* variable cannot both be right; rather than
let one silently see the other's value, the second raises
`SecretInjectionError`. Give them different variable names, or run them in
separate processes (`ProcessPoolTaskRunner`, or a worker per flow run).
Files are per injection and never clash.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import sys
import tempfile
import threading

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretInjectionError
from prefect_secrets._secret import Secret

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["Injection", "with_secrets"]


class Injection:
    """What one `with_secrets` block put in place: env var names and file paths, no values."""

    __slots__ = ("_claims", "_directory", "env_vars", "files")

    def __init__(self) -> None:
        self.env_vars: list[str] = []
        self.files: dict[str, str] = {}  # env var -> path of the file it names
        self._directory: str | None = None
        self._claims: list[_Claim] = []

    def __repr__(self) -> str:
        return f"Injection(env_vars={self.env_vars!r}, files={self.files!r})"


class with_secrets:  # noqa: N801 - a decorator and context manager, named like one
    """Inject `secrets` into env vars (or files) for the duration of a block or call.

    A secret given by name (`with_secrets("API_KEY")`) goes into the env var
    of that name. `Secret(..., as_env_var="X")` picks the variable;
    `Secret(..., as_file=True)` writes the value to a file readable only by
    this user, in a private temporary directory, and sets the variable
    (`as_env_var`, else the secret's name) to the file's path. Non-string
    values (dicts, numbers) are written as JSON.
    """

    def __init__(self, *secrets: Secret | str) -> None:
        self._secrets = tuple(s if isinstance(s, Secret) else Secret(s) for s in secrets)
        targets = [_target(secret) for secret in self._secrets]
        for target in set(targets):
            if targets.count(target) > 1:
                raise ValueError(f"two of the secrets would be injected into env var {target}")
        self._active: list[Injection] = []

    def __repr__(self) -> str:
        return f"with_secrets({', '.join(repr(s) for s in self._secrets)})"

    def __enter__(self) -> Injection:
        values = [secret.get() for secret in self._secrets]
        return self._push(values)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _undo(self._active.pop())

    async def __aenter__(self) -> Injection:
        values = [await secret.aget() for secret in self._secrets]
        return self._push(values)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _undo(self._active.pop())

    def _push(self, values: list[Any]) -> Injection:
        injection = _apply(self._secrets, values)
        self._active.append(injection)
        return injection

    def __call__(self, target: F) -> F:
        """Decorate a function, a coroutine function or a Prefect task."""
        if _is_prefect_task(target):
            from prefect_secrets._prefect.cache import cache_apart

            task: Any = target
            wrapped_task = task.with_options()
            wrapped_task.fn = self(task.fn)
            cache_apart(wrapped_task, tuple(_injected(secret) for secret in self._secrets))
            return wrapped_task  # type: ignore[no-any-return]
        secrets = self._secrets
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def async_call(*args: Any, **kwargs: Any) -> Any:
                # A fresh manager per call: calls may overlap (recursion, gather).
                async with with_secrets(*secrets):
                    return await target(*args, **kwargs)

            return async_call  # type: ignore[return-value]

        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> Any:
            with with_secrets(*secrets):
                return target(*args, **kwargs)

        return call  # type: ignore[return-value]


def _target(secret: Secret) -> str:
    return secret.as_env_var or secret.name


def _injected(secret: Secret) -> str:
    """Which secret goes where, without its value: part of a wrapped task's cache key."""
    where = f"file {_target(secret)}" if secret.as_file else f"env {_target(secret)}"
    which = (secret.name, secret.project, secret.domain, secret.version, secret.env_var)
    return f"{which!r} -> {where}"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import orjson

    return orjson.dumps(value).decode()


def _is_prefect_task(target: object) -> bool:
    tasks = sys.modules.get("prefect.tasks")
    return tasks is not None and isinstance(target, tasks.Task)


def _apply(secrets: tuple[Secret, ...], values: list[Any]) -> Injection:
    injection = Injection()
    try:
        for secret, value in zip(secrets, values, strict=True):
            text = _text(value)
            if secret.as_file:
                text = _write_file(injection, secret.name, text)
                injection.files[_target(secret)] = text
            injection._claims.append(_claim(_target(secret), text))
            injection.env_vars.append(_target(secret))
    except BaseException:
        _undo(injection)
        raise
    return injection


def _write_file(injection: Injection, name: str, text: str) -> str:
    if injection._directory is None:
        # mkdtemp makes the directory 0700: only this user can list or enter it.
        injection._directory = tempfile.mkdtemp(prefix="prefect-secrets-")
    path = os.path.join(injection._directory, name)
    suffix = 1
    while os.path.exists(path):  # same name in two scopes
        suffix += 1
        path = os.path.join(injection._directory, f"{name}-{suffix}")
    # O_EXCL | 0600 from the start: the value is never in a file others could open.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _undo(injection: Injection) -> None:
    for claim in reversed(injection._claims):
        _release(claim)
    injection._claims.clear()
    if injection._directory is not None:
        shutil.rmtree(injection._directory, ignore_errors=True)
        injection._directory = None


class _Claim:
    """One injection's hold on one env var."""

    __slots__ = ("owner", "text", "var")

    def __init__(self, var: str, owner: tuple[int, int], text: str) -> None:
        self.var = var
        self.owner = owner
        self.text = text


class _VarState:
    """An injected env var: its value before the first claim, and the claims on it."""

    __slots__ = ("claims", "original")

    def __init__(self, original: str | None) -> None:
        self.original = original
        self.claims: list[_Claim] = []


_lock = threading.Lock()
_states: dict[str, _VarState] = {}


def _owner() -> tuple[int, int]:
    """This thread, and this asyncio task if any: who an env var claim belongs to."""
    task_id = 0
    if "asyncio" in sys.modules:
        import asyncio

        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running event loop in this thread
            task = None
        task_id = id(task) if task is not None else 0
    return threading.get_ident(), task_id


def _claim(var: str, text: str) -> _Claim:
    owner = _owner()
    with _lock:
        state = _states.get(var)
        if state is None:
            state = _states[var] = _VarState(os.environ.get(var))
        for other in state.claims:
            if other.owner != owner and other.text != text:
                raise SecretInjectionError(
                    f"env var {var} is already injected with a different value by another "
                    "task or thread of this process; env vars are process-wide, so give "
                    "each task its own variable name or run them in separate processes "
                    "(e.g. ProcessPoolTaskRunner)"
                )
        claim = _Claim(var, owner, text)
        state.claims.append(claim)
        os.environ[var] = text
    return claim


def _release(claim: _Claim) -> None:
    with _lock:
        state = _states[claim.var]
        state.claims.remove(claim)
        if state.claims:
            os.environ[claim.var] = state.claims[-1].text
            return
        del _states[claim.var]
        if state.original is None:
            os.environ.pop(claim.var, None)
        else:
            os.environ[claim.var] = state.original
