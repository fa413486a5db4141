"""`SecretTask` and `SecretsTask`: Prefect tasks whose result is a secret's value.

    from prefect import flow, task
    from prefect_secrets import SecretTask

    @flow
    def etl():
        password = SecretTask("WAREHOUSE_PASSWORD")()    # or SecretTask()(name="...")
        load(password)                                   # the task gets the real value

The result lives in memory only, for the tasks of this flow run: it is never
persisted (no result storage, `persist_result=False`) and never cached
(`NO_CACHE`), and options that would do either are refused, as Prefect 1's
secret tasks refused result types. Like every value the library hands out,
it is masked in logs and in what Prefect sends to its API. The task run is
named after the secret (`secret-WAREHOUSE_PASSWORD`), never its value.

A source that fails (`SecretSourceError`: server unreachable, file
unreadable) is retried, twice by default; a missing secret (`SecretNotFound`)
is not: retrying would not make it appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from prefect.cache_policies import NO_CACHE
from prefect.tasks import Task

from prefect_secrets._core.errors import SecretNotFound, SecretSourceError
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import validate_name, validate_scopes
from prefect_secrets._masking.registry import register
from prefect_secrets._secret import Secret, get_many

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State, TaskRun

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_DELAY_SECONDS",
    "SecretTask",
    "SecretsTask",
    "retry_on_source_errors",
]

#: Retries of a failed source (a server restarting, a file being rewritten).
DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_SECONDS = [1.0, 5.0]

# Options that would write the value somewhere (or look it up from there).
_PERSISTING_OPTIONS = {
    "result_storage": "result storage",
    "result_serializer": "a result serializer",
    "result_storage_key": "a result storage key",
    "cache_key_fn": "a cache key function",
    "cache_expiration": "a cache expiration",
    "refresh_cache": "cache refreshing",
}
# Options SecretTask sets itself, because its guarantees depend on them.
_OWN_OPTIONS = {
    "fn": "the task's function is SecretTask's",
    "task_run_name": "the run is named after the secret, so that no value can end up in it",
    "retry_condition_fn": "retries apply to SecretSourceError only (see `retries`)",
}


class _Inherit:
    """Call-time "not given": use what the task was constructed with."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<as constructed>"

    def __reduce__(self) -> str:
        return "_INHERIT"  # one object, also after pickling (process pools, Dask)


_INHERIT = _Inherit()


def retry_on_source_errors(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """The `retry_condition_fn` of secret tasks: retry when a source failed, not otherwise.

    (A plain function: Prefect 3.8 calls `retry_condition_fn` only if
    `inspect.isfunction` says it is one.)
    """
    return isinstance(state.data, SecretSourceError)


def _check_options(options: dict[str, Any], kind: str) -> None:
    for option, what in _PERSISTING_OPTIONS.items():
        if options.get(option) not in (None, False):
            raise ValueError(
                f"{kind} does not accept {option}=: {what} would persist or cache the "
                "secret's value. A secret task's result stays in memory, for this flow run only."
            )
    for option, why in _OWN_OPTIONS.items():
        if option in options:
            raise ValueError(f"{kind} does not accept {option}=: {why}")
    if options.get("persist_result"):
        raise ValueError(
            f"{kind} does not accept persist_result=True: its result is the secret's "
            "value, which is never written to result storage"
        )
    policy = options.get("cache_policy")
    if policy is not None and policy is not NO_CACHE:
        raise ValueError(
            f"{kind} does not accept cache_policy={type(policy).__name__}: caching would "
            "persist the secret's value. Its policy is NO_CACHE."
        )
    if options.get("cache_result_in_memory", True) is not True:
        raise ValueError(
            f"{kind} does not accept cache_result_in_memory=False: without persistence, "
            "the value could then not be passed to downstream tasks"
        )


class _SecretTaskBase(Task[..., Any]):
    """What both secret tasks share: safe options, no deferral, checked calls."""

    _run_prefix: str

    def __init__(
        self, fn: Callable[..., Any], given: dict[str, Any], options: dict[str, Any]
    ) -> None:
        _check_options(options, type(self).__name__)
        self._given = {**given, **options}
        options.setdefault("retries", DEFAULT_RETRIES)
        options.setdefault("retry_delay_seconds", list(DEFAULT_RETRY_DELAY_SECONDS))
        options.pop("persist_result", None)
        options.pop("cache_policy", None)
        options.pop("cache_result_in_memory", None)
        # Prefect calls it with the run's parameters (it has a `parameters` argument).
        run_name: Any = _RunName(self._run_prefix, self._default_label())
        super().__init__(
            fn=fn,
            name=self._run_prefix,
            task_run_name=run_name,
            cache_policy=NO_CACHE,
            persist_result=False,
            cache_result_in_memory=True,
            retry_condition_fn=retry_on_source_errors,
            **options,
        )

    def _default_label(self) -> str | None:
        raise NotImplementedError

    def _check_call(self, args: tuple[Any, ...], kwargs: dict[str, Any], mapped: bool) -> None:
        raise NotImplementedError

    def with_options(self, **options: Any) -> Any:
        """A copy with some arguments or options changed (checked as at construction)."""
        return type(self)(**{**self._given, **options})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._check_call(args, kwargs, mapped=False)
        return super().__call__(*args, **kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self._check_call(args, kwargs, mapped=False)
        return super().submit(*args, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("deferred"):
            self._refuse_deferral()
        self._check_call(args, kwargs, mapped=True)
        return super().map(*args, **kwargs)

    def apply_async(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse_deferral()

    def delay(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse_deferral()

    def serve(self) -> NoReturn:
        self._refuse_deferral()

    def _refuse_deferral(self) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} cannot run as a background (deferred) task: its "
            "result would have to be persisted for the caller to read it. Call it in the "
            "flow, or resolve the secret inside the background task with Secret(name).get()."
        )


class _RunName:
    """The task run's name: `secret-NAME`, from the call's name or the constructed one."""

    def __init__(self, prefix: str, default: str | None) -> None:
        self.prefix = prefix
        self.default = default

    def __call__(self, parameters: dict[str, Any]) -> str:
        label = parameters.get("name", parameters.get("names"))
        if label is None:
            label = self.default
        if isinstance(label, (list, tuple)) and all(isinstance(n, str) for n in label):
            label = ",".join(label)
            if len(label) > 80:
                label = label[:77] + "..."
        return f"{self.prefix}-{label}" if isinstance(label, str) else self.prefix


def _name_error(kind: str) -> ValueError:
    return ValueError(
        f"{kind} needs a secret name: {kind}('WAREHOUSE_PASSWORD')() or "
        f"{kind}()(name='WAREHOUSE_PASSWORD')"
    )


class SecretTask(_SecretTaskBase):
    """A Prefect task whose result is the value of secret `name`.

        SecretTask("WAREHOUSE_PASSWORD")()              # in a flow: the value
        SecretTask()(name="WAREHOUSE_PASSWORD")         # the name given at call time
        SecretTask("API_PORT", cast=int)()              # cast applied to a found value
        SecretTask("OPTIONAL", default=None)()          # default when no source has it
        SecretTask("X").submit(), SecretTask().map(name=["A", "B"])

    `default`, `cast` and `raw` mean what they mean for `Secret(name).get()`,
    and `project`/`domain` what they mean for `Secret(name, project, domain)`;
    `default` and `cast` can also be given at call time. The other keyword
    arguments are Prefect task options (`retries`, `retry_delay_seconds`,
    `tags`, `timeout_seconds`, ...); those that would persist or cache the
    result are refused with a ValueError. Retries: `DEFAULT_RETRIES` times on
    `SecretSourceError`, never on `SecretNotFound`. A failed `cast` raises a
    ValueError that names the secret and the cast, never the value.
    `with_options(...)` takes the same arguments (there, `name` is the
    secret's name) and refuses the same options.

    It is a sync task: in an async flow, call it without `await` (or use
    `.submit()` to resolve several concurrently).
    """

    _run_prefix = "secret"

    def __init__(
        self,
        name: str | None = None,
        *,
        default: Any = MISSING,
        cast: Callable[[Any], Any] | None = None,
        raw: bool = False,
        project: str | None = None,
        domain: str | None = None,
        **options: Any,
    ) -> None:
        if name is not None:
            validate_name(name)
        scope = validate_scopes(project, domain)
        self.secret_name = name
        given = {"name": name, "default": default, "cast": cast, "raw": raw}
        given.update(project=project, domain=domain)
        super().__init__(_secret_fn(name, default, cast, raw, scope), given, options)

    def _default_label(self) -> str | None:
        return self.secret_name

    def _check_call(self, args: tuple[Any, ...], kwargs: dict[str, Any], mapped: bool) -> None:
        name = args[0] if args else kwargs.get("name")
        names = name if mapped and isinstance(name, (list, tuple)) else [name]
        for each in names:
            if each is None and self.secret_name is None:
                raise _name_error("SecretTask")
            if isinstance(each, str):
                validate_name(each)


def _secret_fn(
    constructed_name: str | None,
    constructed_default: Any,
    constructed_cast: Callable[[Any], Any] | None,
    raw: bool,
    scope: tuple[str | None, str | None],
) -> Callable[..., Any]:
    def secret(name: str | None = None, default: Any = _INHERIT, cast: Any = _INHERIT) -> Any:
        """Resolve one secret (see `prefect_secrets.SecretTask`)."""
        name = constructed_name if name is None else name
        if name is None:
            raise _name_error("SecretTask")
        if default is _INHERIT:
            default = constructed_default
        if cast is _INHERIT:
            cast = constructed_cast
        try:
            value = Secret(name, *scope).get(raw=raw)
        except SecretNotFound:
            if default is MISSING:
                raise
            return default
        if cast is None:
            return value
        return _cast(name, value, cast)

    return secret


def _cast(name: str, value: Any, cast: Callable[[Any], Any]) -> Any:
    try:
        result = cast(value)
    except Exception as exc:  # noqa: BLE001 - any cast may fail; the message must not show why
        # The cast's own message usually quotes its input ("invalid literal for
        # int() with base 10: '...'"): keep it, and its traceback, out.
        what = getattr(cast, "__qualname__", type(cast).__name__)
        raise ValueError(
            f"secret {name!r}: cast={what} failed ({type(exc).__name__}); the value is not shown"
        ) from None
    register(result)
    return result


class SecretsTask(_SecretTaskBase):
    """A Prefect task whose result is `{name: value}` for several secrets, in one task run.

        creds = SecretsTask(["DB_USER", "DB_PASSWORD", "API_KEY"])()
        creds = SecretsTask()(names=["DB_USER", "DB_PASSWORD"])

    Resolved with `prefect_secrets.get_many` (one server request for the
    names no local source has). Without `default`, a missing name fails the
    task with `SecretNotFound` listing every missing name; with it, missing
    names map to `default`. Options as for `SecretTask`.
    """

    _run_prefix = "secrets"

    def __init__(
        self,
        names: Iterable[str] | None = None,
        *,
        default: Any = MISSING,
        raw: bool = False,
        project: str | None = None,
        domain: str | None = None,
        **options: Any,
    ) -> None:
        self.secret_names = None if names is None else _checked_names(names)
        scope = validate_scopes(project, domain)
        given = {"names": self.secret_names, "default": default, "raw": raw}
        given.update(project=project, domain=domain)
        super().__init__(_secrets_fn(self.secret_names, default, raw, scope), given, options)

    def _default_label(self) -> str | None:
        return None if self.secret_names is None else ",".join(self.secret_names)

    def _check_call(self, args: tuple[Any, ...], kwargs: dict[str, Any], mapped: bool) -> None:
        names = args[0] if args else kwargs.get("names")
        groups = names if mapped and isinstance(names, (list, tuple)) else [names]
        for group in groups:
            if group is None and self.secret_names is None:
                raise ValueError(
                    "SecretsTask needs secret names: SecretsTask(['A', 'B'])() or "
                    "SecretsTask()(names=['A', 'B'])"
                )
            if isinstance(group, (str, list, tuple)):
                _checked_names(group)


def _checked_names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        raise TypeError("SecretsTask takes a list of names; for one, use SecretTask")
    return [validate_name(name) for name in names]


def _secrets_fn(
    constructed_names: list[str] | None,
    constructed_default: Any,
    raw: bool,
    scope: tuple[str | None, str | None],
) -> Callable[..., Any]:
    def secrets(names: list[str] | None = None, default: Any = _INHERIT) -> dict[str, Any]:
        """Resolve several secrets (see `prefect_secrets.SecretsTask`)."""
        wanted = constructed_names if names is None else _checked_names(names)
        if wanted is None:
            raise ValueError("SecretsTask needs secret names")
        if default is _INHERIT:
            default = constructed_default
        return get_many(wanted, *scope, raw=raw, default=default)

    return secrets
