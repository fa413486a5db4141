"""`Secret(name)`: the handle users hold. It never holds a value."""

from __future__ import annotations

from prefect_secrets._errors import SecretNotFound
from prefect_secrets._names import _valid_names, validate_name, validate_scope
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
    """A named secret, resolved from the context, env vars, mounted files, the local file
    and the Prefect server.

        from prefect_secrets import Secret

        password = Secret("WAREHOUSE_PASSWORD").get()
        etl_key = Secret("API_KEY", project="etl", domain="prod").get()

    Names are 1-255 characters of letters, digits, `_` and `-`. `project` and
    `domain` scope the secret (default: the `project`/`domain` settings); the
    file and the server are searched project+domain, project, domain, then
    org-wide. `as_env_var` and `as_file` say how `with_secrets` injects it.
    The handle holds no value: its repr, str and pickle never contain one.
    """

    __slots__ = ("as_env_var", "as_file", "domain", "name", "project")

    def __init__(
        self,
        name: str,
        project: str | None = None,
        domain: str | None = None,
        *,
        as_env_var: str | None = None,
        as_file: bool = False,
    ) -> None:
        # Handles are often built per call; a name seen before skips the check.
        self.name: str = name if name in _valid_names else validate_name(name)
        self.project = project if project is None else validate_scope(project, what="project")
        self.domain = domain if domain is None else validate_scope(domain, what="domain")
        if as_env_var is not None and not _is_env_var_name(as_env_var):
            raise ValueError(
                f"invalid as_env_var {as_env_var!r}: env var names are letters, digits "
                "and '_', not starting with a digit"
            )
        self.as_env_var = as_env_var
        self.as_file = bool(as_file)

    def get(self, *, raw: bool = False, default: Any = MISSING) -> Any:
        """The secret's value.

        Strings holding JSON are decoded (`'42'` -> 42); `raw=True` returns
        the stored string as it is. With `default`, a secret that no source
        has returns it instead of raising `SecretNotFound`; a source that
        failed still raises `SecretSourceError`.
        """
        try:
            value = resolve(self.name, self.project, self.domain)[0]
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
            value = (await aresolve(self.name, self.project, self.domain))[0]
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
            resolve(self.name, self.project, self.domain)
        except SecretNotFound:
            return False
        return True

    async def aexists(self) -> bool:
        """`exists` for async code."""
        try:
            await aresolve(self.name, self.project, self.domain)
        except SecretNotFound:
            return False
        return True

    def explain(self) -> list[Place]:
        """Every place a lookup looks at, in order, and which one wins; never values."""
        from prefect_secrets._explain import explain

        return explain(self.name, self.project, self.domain)

    def source(self) -> str:
        """Where the value comes from, e.g. `env var PREFECT__CONTEXT__SECRETS__X`.

        Raises `SecretNotFound` or `SecretSourceError` like `get`.
        """
        _, source, key = resolve(self.name, self.project, self.domain)
        from prefect_secrets._config import Config

        return source.place(key, Config())

    def __repr__(self) -> str:
        extras = [
            f"{field}={getattr(self, field)!r}"
            for field in ("project", "domain", "as_env_var")
            if getattr(self, field) is not None
        ]
        if self.as_file:
            extras.append("as_file=True")
        return f"Secret({', '.join([repr(self.name), *extras])})"

    __str__ = __repr__

    def _identity(self) -> tuple[object, ...]:
        return (self.name, self.project, self.domain, self.as_env_var, self.as_file)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash((Secret, *self._identity()))


def _is_env_var_name(name: str) -> bool:
    return (
        bool(name) and name.isascii() and name.replace("_", "a").isalnum() and not name[0].isdigit()
    )


def get_many(
    names: Iterable[str],
    project: str | None = None,
    domain: str | None = None,
    *,
    raw: bool = False,
    default: Any = MISSING,
) -> dict[str, Any]:
    """{name: value} for several secrets, each resolved exactly as `Secret(name).get()`.

        creds = get_many(["DB_USER", "DB_PASSWORD", "API_KEY"])

    Local sources answer first; the names they lack are read from the server
    in one request (per 200 names) instead of one per secret, so a flow that
    declares its secrets up front pays one round trip. Without `default`, any
    missing name raises `SecretNotFound` listing every missing name; with it,
    missing names map to `default`.
    """
    wanted = [validate_name(name) for name in names]
    project, domain = _scope(project, domain)
    stored = resolve_many(wanted, project, domain, all_required=default is MISSING)
    return _hand_out(wanted, stored, raw, default)


async def aget_many(
    names: Iterable[str],
    project: str | None = None,
    domain: str | None = None,
    *,
    raw: bool = False,
    default: Any = MISSING,
) -> dict[str, Any]:
    """`get_many` for async code."""
    wanted = [validate_name(name) for name in names]
    project, domain = _scope(project, domain)
    stored = await aresolve_many(wanted, project, domain, all_required=default is MISSING)
    return _hand_out(wanted, stored, raw, default)


def _scope(project: str | None, domain: str | None) -> tuple[str | None, str | None]:
    return (
        project if project is None else validate_scope(project, what="project"),
        domain if domain is None else validate_scope(domain, what="domain"),
    )


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
