"""Settings: environment variables > the file's `[settings]` table > defaults.

| setting           | env var                            | default                  |
|-------------------|------------------------------------|--------------------------|
| server            | PREFECT_SECRETS_SERVER             | "auto"                   |
| use_local_secrets | PREFECT__CLOUD__USE_LOCAL_SECRETS  | (alias of server)        |
| prefect1_config   | PREFECT_SECRETS_PREFECT1_CONFIG    | "~/.prefect/config.toml" |
| timeout           | PREFECT_SECRETS_TIMEOUT            | 5.0 (seconds)            |
| retries           | PREFECT_SECRETS_RETRIES            | 2                        |
| strict_permissions| PREFECT_SECRETS_STRICT_PERMISSIONS | false                    |
| cache_ttl         | PREFECT_SECRETS_CACHE_TTL          | 60.0 (seconds; 0: off)   |
| cache_miss_ttl    | PREFECT_SECRETS_CACHE_MISS_TTL     | 5.0 (seconds; 0: off)    |
| min_mask_length   | PREFECT_SECRETS_MIN_MASK_LENGTH    | 4                        |
| project           | PREFECT_SECRETS_PROJECT            | none (org-wide)          |
| domain            | PREFECT_SECRETS_DOMAIN             | none (org-wide)          |
| mounted_dirs      | PREFECT_SECRETS_MOUNTED_DIRS       | /run/secrets if it exists|

Two settings are read from the environment only, at every call:
`PREFECT_SECRETS_CONFIG` (where the file is) and `PREFECT_SECRETS_ENV_PREFIX`
(which env vars hold secrets). The prefix decides how the environment is
read, so it lives there: an env lookup then never touches the disk.
"""

from __future__ import annotations

import os

from prefect_secrets._config_file import ConfigDocument
from prefect_secrets._environ import getenv, snapshot
from prefect_secrets._errors import SettingsError
from prefect_secrets._names import SCOPE_RULE, validate_scope

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["SERVER_MODES", "Settings", "env_prefix", "load_settings"]

ENV_PREFIX_ENV_VAR = "PREFECT_SECRETS_ENV_PREFIX"
DEFAULT_ENV_PREFIX = "PREFECT"
SERVER_MODES = ("auto", "always", "never")


def env_prefix() -> str:
    """The env var prefix, read at call time: `PREFECT` unless overridden."""
    prefix = getenv(ENV_PREFIX_ENV_VAR)
    if prefix is None:
        return DEFAULT_ENV_PREFIX
    if not prefix or not prefix.replace("_", "").isalnum() or not prefix.isascii():
        raise SettingsError(
            f"{ENV_PREFIX_ENV_VAR}={prefix!r} is invalid: "
            "expected letters, digits and '_', e.g. PREFECT"
        )
    return prefix


class Settings:
    """The settings in force (immutable). Build with `load_settings()`."""

    __slots__ = (
        "cache_miss_ttl",
        "cache_ttl",
        "domain",
        "min_mask_length",
        "mounted_dirs",
        "prefect1_config",
        "project",
        "retries",
        "server",
        "strict_permissions",
        "timeout",
    )

    server: str
    """When to ask the Prefect server: "auto", "always" or "never"."""
    prefect1_config: str | None
    """Prefect 1's config file, read below ours for its [context.secrets]; None: off."""
    timeout: float
    """Seconds before one request to the server is abandoned."""
    retries: int
    """How many times a transient server failure is retried (with backoff)."""
    strict_permissions: bool
    """Refuse, rather than warn about, a config file that others can read."""
    cache_ttl: float
    """Seconds a value read from the server is reused in this process; 0: no cache."""
    cache_miss_ttl: float
    """Seconds a "no such block" answer from the server is reused; 0: not cached."""
    min_mask_length: int
    """Values shorter than this are not masked in output (masking "a" would mask every "a")."""
    project: str | None
    """The project scope of secrets that do not name one (None: no project)."""
    domain: str | None
    """The domain scope of secrets that do not name one (None: no domain)."""
    mounted_dirs: tuple[str, ...] | None
    """Directories of one-file-per-secret mounts; None: /run/secrets when it exists."""

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(_SPECS)
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        for name, spec in _SPECS.items():
            object.__setattr__(self, name, values.get(name, spec.default))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Settings are immutable; set env vars or the file's [settings]")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _SPECS)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in _SPECS))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _SPECS)
        return f"Settings({shown})"


def _parse_server(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in SERVER_MODES:
        return value.strip().lower()
    raise ValueError("expected one of 'auto', 'always', 'never'")


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    raise ValueError("expected true or false")


def _parse_path(value: object) -> str | None:
    if not isinstance(value, str):
        raise ValueError('expected a path, or "" to turn it off')
    return os.path.expanduser(value) if value else None


def _parse_seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a number of seconds")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    # NaN fails every comparison, so it fails this one too.
    if not 0 < seconds < float("inf"):
        raise ValueError("expected a finite number of seconds greater than 0")
    return seconds


def _parse_ttl(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a number of seconds, 0 or more")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("expected a number of seconds, 0 or more") from None
    if not 0 <= seconds < float("inf"):
        raise ValueError("expected a finite number of seconds, 0 or more (0 turns it off)")
    return seconds


def _parse_mask_length(value: object) -> int:
    length = _parse_count(value)
    if length < 1:
        raise ValueError("expected a whole number, 1 or more")
    return length


def _scope_parser(what: str) -> Callable[[object], str | None]:
    def parse(value: object) -> str | None:
        if not isinstance(value, str):
            raise ValueError(f'expected a {what} name, or "" for none')
        if not value:
            return None
        try:
            return validate_scope(value, what=what)
        except ValueError:
            raise ValueError(f"{what} names are {SCOPE_RULE}") from None

    return parse


def _parse_dirs(value: object) -> tuple[str, ...]:
    # Env vars hold a PATH-like list; the file may hold an array or one string.
    if isinstance(value, str):
        items = [item for item in value.split(os.pathsep) if item]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item for item in value if item]
    else:
        raise ValueError("expected a list of directories")
    dirs = tuple(os.path.expanduser(item) for item in items)
    for directory in dirs:
        if not os.path.isabs(directory):
            raise ValueError(f"{directory!r} is not an absolute path")
    return dirs


def _parse_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("expected a whole number, 0 or more")
    try:
        count = int(value)
    except ValueError:
        raise ValueError("expected a whole number, 0 or more") from None
    if count < 0:
        raise ValueError("expected a whole number, 0 or more")
    return count


class _Spec:
    """How one setting is read: its env var, its parser and its default."""

    __slots__ = ("default", "env_var", "parse")

    def __init__(self, env_var: str, parse: Callable[[object], Any], default: Any) -> None:
        self.env_var = env_var
        self.parse = parse
        self.default = default


_SPECS: dict[str, _Spec] = {
    "server": _Spec("PREFECT_SECRETS_SERVER", _parse_server, "auto"),
    "prefect1_config": _Spec(
        "PREFECT_SECRETS_PREFECT1_CONFIG", _parse_path, os.path.join("~", ".prefect", "config.toml")
    ),
    "timeout": _Spec("PREFECT_SECRETS_TIMEOUT", _parse_seconds, 5.0),
    "retries": _Spec("PREFECT_SECRETS_RETRIES", _parse_count, 2),
    "strict_permissions": _Spec("PREFECT_SECRETS_STRICT_PERMISSIONS", _parse_bool, False),
    "cache_ttl": _Spec("PREFECT_SECRETS_CACHE_TTL", _parse_ttl, 60.0),
    "cache_miss_ttl": _Spec("PREFECT_SECRETS_CACHE_MISS_TTL", _parse_ttl, 5.0),
    "min_mask_length": _Spec("PREFECT_SECRETS_MIN_MASK_LENGTH", _parse_mask_length, 4),
    "project": _Spec("PREFECT_SECRETS_PROJECT", _scope_parser("project"), None),
    "domain": _Spec("PREFECT_SECRETS_DOMAIN", _scope_parser("domain"), None),
    "mounted_dirs": _Spec("PREFECT_SECRETS_MOUNTED_DIRS", _parse_dirs, None),
}

# Prefect 1's switch, kept as an alias: true = never ask the server.
_ALIAS = "use_local_secrets"
_ALIAS_ENV_VAR = "PREFECT__CLOUD__USE_LOCAL_SECRETS"
_ENV_VARS = (*(spec.env_var for spec in _SPECS.values()), _ALIAS_ENV_VAR)


def _env_layer() -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, spec in _SPECS.items():
        raw = getenv(spec.env_var)
        if raw is not None:
            layer[name] = _parse(spec.parse, raw, spec.env_var)
    alias = getenv(_ALIAS_ENV_VAR)
    if alias is not None:
        use_local = _parse(_parse_bool, alias, _ALIAS_ENV_VAR)
        _merge_alias(layer, use_local, f"{_ALIAS_ENV_VAR} and {_SPECS['server'].env_var}")
    return layer


def _file_layer(document: ConfigDocument) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for key, raw in document.settings.items():
        if key == _ALIAS:
            continue
        spec = _SPECS.get(key)
        where = f"{document.where('settings', key)}: [settings] {key}"
        if spec is None:
            known = ", ".join([*_SPECS, _ALIAS])
            raise SettingsError(f"{where} is not a known setting (known: {known})")
        layer[key] = _parse(spec.parse, raw, where)
    if _ALIAS in document.settings:
        where = f"{document.where('settings', _ALIAS)}: [settings] {_ALIAS}"
        use_local = _parse(_parse_bool, document.settings[_ALIAS], where)
        _merge_alias(layer, use_local, f"{where} and [settings] server")
    return layer


def _merge_alias(layer: dict[str, Any], use_local: bool, both: str) -> None:
    mode = "never" if use_local else "always"
    if layer.setdefault("server", mode) != mode:
        raise SettingsError(f"{both} disagree: set only one of them")


def _parse(parse: Callable[[object], Any], raw: object, where: str) -> Any:
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{where} = {raw!r} is invalid: {exc}") from None


# Keyed by the document itself (compared by identity) and the raw env values.
_cache: dict[tuple[object, ...], Settings] = {}


def load_settings(document: ConfigDocument) -> Settings:
    """The settings in force: env vars > `document`'s [settings] > defaults.

    Env vars are read at every call; parsing happens once per combination of
    env values and file version.
    """
    key = (document, snapshot(_ENV_VARS))
    found = _cache.get(key)
    if found is None:
        if len(_cache) >= 64:
            _cache.clear()
        found = _cache[key] = Settings(**{**_file_layer(document), **_env_layer()})
    return found
