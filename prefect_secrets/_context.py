"""In-process secrets: `context.secrets` (process-wide) and `secrets_context()` (per thread/task).

    import prefect_secrets

    prefect_secrets.context.secrets["API_KEY"] = "fake-key"    # every thread sees it

    with prefect_secrets.secrets_context(API_KEY="other-fake"):  # this thread/task only
        prefect_secrets.Secret("API_KEY").get()                # -> "other-fake"

`secrets_context(hide=["NAME"])` hides a secret: a lookup finds nothing, whatever
any source holds (what `prefect.context(secrets={})` did in Prefect 1). `HIDDEN`
as a value does the same, in `context.secrets` too (process-wide); a `Failing`
value makes every lookup of that name raise `SecretSourceError` (for tests).

`secrets_context` keeps its overrides in a ContextVar, like structlog's
`bound_contextvars`: a thread starts with none, an asyncio task starts with a
copy of its creator's, and leaving the block restores what was there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar, Token

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.names import validate_name

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "HIDDEN",
    "Failing",
    "ProcessContext",
    "SecretsMapping",
    "context",
    "override_names",
    "overrides",
    "process_secrets",
    "secrets_context",
]


class _Hidden:
    """The type of `HIDDEN`: one instance, never a value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HIDDEN"

    def __reduce__(self) -> str:
        return "HIDDEN"


#: Set as a secret's value (in `secrets_context` or `context.secrets`): the secret is
#: absent, whatever any source holds. The lookup loops stop at it ("not found").
HIDDEN = _Hidden()


class Failing:
    """Set as a secret's value (in `secrets_context` or `context.secrets`): every lookup
    of that name raises `SecretSourceError` with `message` (to test error handling)."""

    __slots__ = ("message",)

    def __init__(self, message: str = "failing on purpose") -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Failing({self.message!r})"


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

    `hide=["NAME", ...]` hides those secrets in the block: lookups find nothing
    (`SecretNotFound`, or the `default`), whatever any source holds, and `which`
    says they are hidden. (A name is `hide`'s own only through the mapping:
    `secrets_context({"hide": "fake"})`.)
    """

    __slots__ = ("_overrides", "_tokens")

    def __init__(
        self,
        secrets: Mapping[str, Any] | None = None,
        /,
        *,
        hide: Iterable[str] = (),
        **more: Any,
    ) -> None:
        if isinstance(hide, str):
            raise TypeError("hide takes a list of names, not one string")
        merged = {**(secrets or {}), **more, **dict.fromkeys(hide, HIDDEN)}
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
        hidden = sorted(name for name, value in self._overrides.items() if value is HIDDEN)
        shown = sorted(name for name, value in self._overrides.items() if value is not HIDDEN)
        extra = f", hide={hidden!r}" if hidden else ""
        return f"secrets_context(names={shown!r}{extra})"


def override_names() -> list[str]:
    """Names overridden by `secrets_context` in the current thread/task."""
    return list(overrides.get())
