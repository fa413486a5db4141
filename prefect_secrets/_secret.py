"""`Secret(name)`: the handle users hold. It never holds a value."""

from __future__ import annotations

from prefect_secrets._errors import SecretNotFound
from prefect_secrets._names import _valid_names, validate_name
from prefect_secrets._redaction import register
from prefect_secrets._resolver import aresolve, aresolve_many, resolve, resolve_many
from prefect_secrets._sentinel import MISSING
from prefect_secrets._values import decode_value

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from prefect_secrets._explain import Place

__all__ = ["Secret", "aget_many", "get_many"]


class Secret:
    """A named secret, resolved from the context, env vars, the local file and the Prefect server.

        from prefect_secrets import Secret

        password = Secret("WAREHOUSE_PASSWORD").get()

    Names are 1-255 characters of letters, digits, `_` and `-`. The handle
    holds only the name: its repr, str and pickle never contain a value.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        # Handles are often built per call; a name seen before skips the check.
        self.name: str = name if name in _valid_names else validate_name(name)

    def get(self, *, raw: bool = False, default: Any = MISSING) -> Any:
        """The secret's value.

        Strings holding JSON are decoded (`'42'` -> 42); `raw=True` returns
        the stored string as it is. With `default`, a secret that no source
        has returns it instead of raising `SecretNotFound`; a source that
        failed still raises `SecretSourceError`.
        """
        try:
            value = resolve(self.name)[0]
        except SecretNotFound:
            if default is MISSING:
                raise
            return default
        if not raw:
            value = decode_value(value)
        register(value)
        return value

    async def aget(self, *, raw: bool = False, default: Any = MISSING) -> Any:
        """`get` for async code: server lookups do not block the event loop."""
        try:
            value = (await aresolve(self.name))[0]
        except SecretNotFound:
            if default is MISSING:
                raise
            return default
        if not raw:
            value = decode_value(value)
        register(value)
        return value

    def exists(self) -> bool:
        """Whether some source has the secret. Raises `SecretSourceError` if a
        source failed before one had it, rather than guessing False."""
        try:
            resolve(self.name)
        except SecretNotFound:
            return False
        return True

    async def aexists(self) -> bool:
        """`exists` for async code."""
        try:
            await aresolve(self.name)
        except SecretNotFound:
            return False
        return True

    def explain(self) -> list[Place]:
        """Every place a lookup looks at, in order, and which one wins; never values."""
        from prefect_secrets._explain import explain

        return explain(self.name)

    def source(self) -> str:
        """Where the value comes from, e.g. `env var PREFECT__CONTEXT__SECRETS__X`.

        Raises `SecretNotFound` or `SecretSourceError` like `get`.
        """
        _, source, key = resolve(self.name)
        from prefect_secrets._config import Config

        return source.place(key, Config())

    def __repr__(self) -> str:
        return f"Secret({self.name!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self.name == other.name

    def __hash__(self) -> int:
        return hash((Secret, self.name))


def get_many(names: Iterable[str], *, raw: bool = False, default: Any = MISSING) -> dict[str, Any]:
    """{name: value} for several secrets, each resolved exactly as `Secret(name).get()`.

        creds = get_many(["DB_USER", "DB_PASSWORD", "API_KEY"])

    Local sources answer first; the names they lack are read from the server
    in one request (per 200 names) instead of one per secret, so a flow that
    declares its secrets up front pays one round trip. Without `default`, any
    missing name raises `SecretNotFound` listing every missing name; with it,
    missing names map to `default`.
    """
    wanted = [validate_name(name) for name in names]
    stored = resolve_many(wanted, all_required=default is MISSING)
    return _hand_out(wanted, stored, raw, default)


async def aget_many(
    names: Iterable[str], *, raw: bool = False, default: Any = MISSING
) -> dict[str, Any]:
    """`get_many` for async code."""
    wanted = [validate_name(name) for name in names]
    stored = await aresolve_many(wanted, all_required=default is MISSING)
    return _hand_out(wanted, stored, raw, default)


def _hand_out(wanted: list[str], stored: dict[str, Any], raw: bool, default: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in wanted:
        if name not in stored:
            values[name] = default
            continue
        value = stored[name] if raw else decode_value(stored[name])
        register(value)
        values[name] = value
    return values
