"""`Secret(name)`: the handle users hold. It never holds a value."""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretNotFound
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import checked_names, validate_name, validate_scopes
from prefect_secrets._core.values import decode_value
from prefect_secrets._masking.registry import register
from prefect_secrets._resolution import (
    aresolve,
    aresolve_env_var,
    aresolve_many,
    aresolve_version,
    resolve,
    resolve_env_var,
    resolve_many,
    resolve_version,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from prefect_secrets._resolution.explain import Place
    from prefect_secrets.sources import SecretKey, SecretSource

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
    `version` pins a version in a store that keeps them (README "Versions"): a
    source without versions that holds the name is an error, never "latest".
    `env_var="MY_VAR"` reads the env var MY_VAR, as Prefect 1's `EnvVarSecret`: the
    context (`secrets_context`, `context.secrets`) first, then MY_VAR if it is set,
    then the usual sources for `name` (not with `version`).
    The handle holds no value: its repr, str and pickle never contain one.
    """

    __slots__ = (
        "_routed",
        "as_env_var",
        "as_file",
        "domain",
        "env_var",
        "name",
        "project",
        "version",
    )

    def __init__(
        self,
        name: str,
        project: str | None = None,
        domain: str | None = None,
        *,
        as_env_var: str | None = None,
        as_file: bool = False,
        version: str | None = None,
        env_var: str | None = None,
    ) -> None:
        # Handles are often built per call; a name seen before skips the check.
        self.name: str = name if name in checked_names else validate_name(name)
        if project is None and domain is None:  # the common case: no call
            self.project = self.domain = None
        else:
            self.project, self.domain = validate_scopes(project, domain)
        if as_env_var is not None and not _is_env_var_name(as_env_var):
            raise ValueError(
                f"invalid as_env_var {as_env_var!r}: env var names are letters, digits "
                "and '_', not starting with a digit"
            )
        self.as_env_var = as_env_var
        self.as_file = bool(as_file)
        if version is not None and not _is_version(version):
            raise ValueError(
                "invalid version: a store's version id, number or label (1-255 printable "
                "characters, no spaces)"
            )
        self.version = version
        if env_var is not None:
            if not _is_env_var_name(env_var):
                raise ValueError(
                    f"invalid env_var {env_var!r}: env var names are letters, digits "
                    "and '_', not starting with a digit"
                )
            if version is not None:
                raise ValueError(
                    "env_var and version cannot go together: an env var keeps no versions"
                )
        self.env_var = env_var
        #: Pinned or read from a named env var: the one check the plain `get` pays.
        self._routed = version is not None or env_var is not None

    def get(self, *, raw: bool = False, default: Any = MISSING) -> Any:
        """The secret's value.

        Strings holding JSON are decoded (`'42'` -> 42); `raw=True` returns
        the stored string as it is. With `default`, a secret that no source
        has returns it instead of raising `SecretNotFound`; a source that
        failed still raises `SecretSourceError`.
        """
        if self._routed:  # the one check the plain path pays (version=, env_var=)
            return self._get_pinned(raw, default)
        try:
            stored = resolve(self.name, self.project, self.domain)[0]
        except SecretNotFound as missing:
            return _default_or_raise(default, missing)
        # A string handed out before is decoded and registered already: one dict read
        # instead of two calls (2.5k of 23k instructions per env lookup, measured).
        value = _handed_out.get(stored, MISSING) if type(stored) is str and not raw else MISSING
        return _hand_out(stored, raw) if value is MISSING else value

    async def aget(self, *, raw: bool = False, default: Any = MISSING) -> Any:
        """`get` for async code: server lookups do not block the event loop."""
        try:
            if self.version is not None:
                found = await aresolve_version(self.name, self.version, self.project, self.domain)
            elif self.env_var is not None:
                found = await aresolve_env_var(self.name, self.env_var, self.project, self.domain)
            else:
                found = await aresolve(self.name, self.project, self.domain)
        except SecretNotFound as missing:
            return _default_or_raise(default, missing)
        return _hand_out(found[0], raw)

    def _get_pinned(self, raw: bool, default: Any) -> Any:
        try:
            stored = self._resolve()[0]
        except SecretNotFound as missing:
            return _default_or_raise(default, missing)
        return _hand_out(stored, raw)

    def _resolve(self) -> tuple[Any, SecretSource, SecretKey]:
        """(stored value, source, key): of the pinned version, if there is one."""
        if self.version is not None:
            return resolve_version(self.name, self.version, self.project, self.domain)
        if self.env_var is not None:
            return resolve_env_var(self.name, self.env_var, self.project, self.domain)
        return resolve(self.name, self.project, self.domain)

    def exists(self) -> bool:
        """Whether some source has the secret. Raises `SecretSourceError` if a
        source failed before one had it, rather than guessing False."""
        try:
            if self._routed:  # not `_resolve` unpinned: no extra call
                self._resolve()
            else:
                resolve(self.name, self.project, self.domain)
        except SecretNotFound:
            return False
        return True

    async def aexists(self) -> bool:
        """`exists` for async code."""
        try:
            if self.version is not None:
                await aresolve_version(self.name, self.version, self.project, self.domain)
            elif self.env_var is not None:
                await aresolve_env_var(self.name, self.env_var, self.project, self.domain)
            else:
                await aresolve(self.name, self.project, self.domain)
        except SecretNotFound:
            return False
        return True

    def explain(self) -> list[Place]:
        """Every place a lookup looks at, in order, and which one wins; never values.
        (The latest values: a pinned version is not looked up here.)"""
        from prefect_secrets._resolution.explain import explain

        return explain(self.name, self.project, self.domain, env_var=self.env_var)

    def source(self) -> str:
        """Where the value comes from, e.g. `env var PREFECT__CONTEXT__SECRETS__X`.

        Raises `SecretNotFound` or `SecretSourceError` like `get`.
        """
        _, source, key = self._resolve()
        from prefect_secrets._config.lookup import SourceConfig

        return source.place(key, SourceConfig())

    def __repr__(self) -> str:
        extras = [
            f"{field}={getattr(self, field)!r}"
            for field in ("project", "domain", "as_env_var", "version", "env_var")
            if getattr(self, field) is not None
        ]
        if self.as_file:
            extras.append("as_file=True")
        return f"Secret({', '.join([repr(self.name), *extras])})"

    __str__ = __repr__

    def _identity(self) -> tuple[object, ...]:
        return (
            self.name,
            self.project,
            self.domain,
            self.as_env_var,
            self.as_file,
            self.version,
            self.env_var,
        )

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


def _is_version(version: object) -> bool:
    return (
        isinstance(version, str)
        and 0 < len(version) <= 255
        and version.isprintable()
        and not any(c.isspace() for c in version)
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
    project, domain = validate_scopes(project, domain)
    stored = resolve_many(wanted, project, domain, all_required=default is MISSING)
    return _hand_out_many(wanted, stored, raw, default)


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
    project, domain = validate_scopes(project, domain)
    stored = await aresolve_many(wanted, project, domain, all_required=default is MISSING)
    return _hand_out_many(wanted, stored, raw, default)


def _default_or_raise(default: Any, missing: SecretNotFound) -> Any:
    """`default` for a secret no source has; without one, `missing` is raised."""
    if default is MISSING:
        raise missing
    return default


def _hand_out(stored: Any, raw: bool) -> Any:
    """A stored value as `get` returns it: decoded unless `raw`, and registered for masking."""
    value = stored if raw else decode_value(stored)
    register(value)
    if not raw and type(stored) is str and type(value) in _IMMUTABLE and len(_handed_out) < 1024:
        _handed_out[stored] = value
    return value


# Stored string -> its decoded value, once registered for masking (the registry only
# grows, so it stays registered). Immutable values only: a dict or list is decoded
# afresh for every caller, who may change it.
_handed_out: dict[str, Any] = {}
_IMMUTABLE = frozenset((str, int, float, bool, type(None)))


def _hand_out_many(
    wanted: list[str], stored: dict[str, Any], raw: bool, default: Any
) -> dict[str, Any]:
    return {name: _hand_out(stored[name], raw) if name in stored else default for name in wanted}
