"""In-process secrets: `context.secrets` (process-wide) and `secrets_context()` (per thread/task).

    import prefect_secrets

    prefect_secrets.context.secrets["API_KEY"] = "fake-key"    # every thread sees it

    with prefect_secrets.secrets_context(API_KEY="other-fake"):  # this thread/task only
        prefect_secrets.Secret("API_KEY").get()                # -> "other-fake"

`secrets_context` keeps its overrides in a ContextVar, like structlog's
`bound_contextvars`: a thread starts with none, an asyncio task starts with a
copy of its creator's, and leaving the block restores what was there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar, Token

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.names import validate_name

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ProcessContext",
    "SecretsMapping",
    "context",
    "override_names",
    "overrides",
    "process_secrets",
    "secrets_context",
]


class SecretsMapping(MutableMapping[str, "Any"]):
    """A dict of secrets whose repr shows names, never values."""

    __slots__ = ("_data",)

    def __init__(
        self, secrets: Mapping[str, Any] | None = None, *, data: dict[str, Any] | None = None
    ) -> None:
        self._data: dict[str, Any] = {} if data is None else data
        if secrets:
            self.update(secrets)

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._data[validate_name(name)] = value

    def __delitem__(self, name: str) -> None:
        del self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))  # a copy: other threads may write meanwhile

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def get(self, name: str, default: Any = None) -> Any:
        # The hot path of every lookup: skip MutableMapping's generic get.
        return self._data.get(name, default)

    def __repr__(self) -> str:
        return f"SecretsMapping(names={sorted(self._data)!r})"

    def __reduce__(self) -> Any:
        # Pickling would write values into whatever holds the pickle.
        raise TypeError("SecretsMapping holds secrets and cannot be pickled")


class ProcessContext:
    """`prefect_secrets.context`: what `prefect.context` was for secrets in Prefect 1."""

    __slots__ = ("_secrets",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._secrets = SecretsMapping(data=data)

    @property
    def secrets(self) -> SecretsMapping:
        """Process-wide secrets, seen by every thread and task. Highest precedence
        after `secrets_context` overrides."""
        return self._secrets

    @secrets.setter
    def secrets(self, secrets: Mapping[str, Any]) -> None:
        # Replace the contents, not the object: code (and the context source) holds it.
        replacement = SecretsMapping(secrets)  # validates every name first
        self._secrets.clear()
        self._secrets.update(replacement)

    def __repr__(self) -> str:
        return f"ProcessContext(secrets={self._secrets!r})"


#: The process-wide secrets behind `context.secrets` (the context source reads it directly:
#: it is the first step of every lookup).
process_secrets: dict[str, Any] = {}
context = ProcessContext(process_secrets)

#: The `secrets_context` overrides of this thread/task. Plain dicts, never mutated once
#: set (each block sets a new one): a MappingProxyType would make every lookup's first
#: step twice as slow.
overrides: ContextVar[dict[str, Any]] = ContextVar(
    "prefect_secrets_overrides",
    default={},  # noqa: B039 - never mutated: secrets_context sets new dicts
)


class secrets_context:  # noqa: N801 - used like a function, as contextlib's are
    """Override secrets for the current thread or asyncio task until the block ends.

        with secrets_context(DB_PASSWORD="fake-password"):
            Secret("DB_PASSWORD").get()  # -> "fake-password"

    Names that are not Python identifiers go in a mapping:
    `secrets_context({"db-password": "fake"})`. Nested blocks add to the
    outer one's overrides. Usable with `with` and `async with`.
    """

    __slots__ = ("_overrides", "_tokens")

    def __init__(self, secrets: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        merged = {**(secrets or {}), **more}
        self._overrides = {validate_name(name): value for name, value in merged.items()}
        self._tokens: list[Token[dict[str, Any]]] = []

    def __enter__(self) -> None:
        current = overrides.get()
        self._tokens.append(overrides.set({**current, **self._overrides}))

    def __exit__(self, *exc_info: object) -> None:
        overrides.reset(self._tokens.pop())

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__()

    def __repr__(self) -> str:
        return f"secrets_context(names={sorted(self._overrides)!r})"


def override_names() -> list[str]:
    """Names overridden by `secrets_context` in the current thread/task."""
    return list(overrides.get())
