"""Settings: environment variables > the file's `[settings]` table > defaults.

| setting            | env var                            | default                   |
|--------------------|------------------------------------|---------------------------|
| sources            | PREFECT_SECRETS_SOURCES            | the built-in order        |
| server             | PREFECT_SECRETS_SERVER             | "auto"                    |
| use_local_secrets  | PREFECT__CLOUD__USE_LOCAL_SECRETS  | (alias of server)         |
| prefect1_config    | PREFECT_SECRETS_PREFECT1_CONFIG    | "~/.prefect/config.toml"  |
| timeout            | PREFECT_SECRETS_TIMEOUT            | 5.0 (seconds)             |
| retries            | PREFECT_SECRETS_RETRIES            | 2                         |
| strict_permissions | PREFECT_SECRETS_STRICT_PERMISSIONS | false                     |
| cache_ttl          | PREFECT_SECRETS_CACHE_TTL          | 60.0 (seconds; 0: off)    |
| cache_miss_ttl     | PREFECT_SECRETS_CACHE_MISS_TTL     | 5.0 (seconds; 0: off)     |
| min_mask_length    | PREFECT_SECRETS_MIN_MASK_LENGTH    | 4                         |
| mask_patterns      | PREFECT_SECRETS_MASK_PATTERNS      | none (`["aws", "jwt"...]`)|
| mask_regexes       | PREFECT_SECRETS_MASK_REGEXES       | none                      |
| mask_streams       | PREFECT_SECRETS_MASK_STREAMS       | true                      |
| project            | PREFECT_SECRETS_PROJECT            | none (org-wide)           |
| domain             | PREFECT_SECRETS_DOMAIN             | none (org-wide)           |
| mounted_dirs       | PREFECT_SECRETS_MOUNTED_DIRS       | /run/secrets if it exists |

Every value remembers where it came from (`Settings.origin(name)`): the env
var, the file and line, or "default". `doctor` prints that; errors name it.

Lists are written as TOML arrays in the file; in an env var as a JSON array
(`'["env", "file"]'`, `'[]'` for none) or, for convenience, separated by
`,` (`sources`) or `:` (`mounted_dirs`, like PATH).

Two settings are read from the environment only, at every call:
`PREFECT_SECRETS_CONFIG` (where the file is) and `PREFECT_SECRETS_ENV_PREFIX`
(which env vars hold secrets). The prefix decides how the environment is
read, so it lives there: an env lookup then never touches the disk.
"""

from __future__ import annotations

import os

from prefect_secrets._config.file import ConfigDocument
from prefect_secrets._config.parsers import (
    SERVER_MODES,
    parse_bool,
    parse_count,
    parse_dirs,
    parse_mask_length,
    parse_mask_patterns,
    parse_mask_regexes,
    parse_path,
    parse_seconds,
    parse_server,
    parse_sources,
    parse_ttl,
    scope_parser,
)
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv, reader
from prefect_secrets._core.errors import SettingsError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

__all__ = [
    "DEFAULT_ENV_PREFIX",
    "ENV_PREFIX_ENV_VAR",
    "SERVER_MODES",
    "SETTINGS",
    "USE_LOCAL_SECRETS",
    "Setting",
    "Settings",
    "env_prefix",
    "load_settings",
]

ENV_PREFIX_ENV_VAR = "PREFECT_SECRETS_ENV_PREFIX"
DEFAULT_ENV_PREFIX = "PREFECT"


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


class Setting:
    """How one setting is read: its env var, its parser, its default, one line of help."""

    __slots__ = ("default", "env_var", "help", "name", "parse")

    def __init__(
        self, name: str, parse: Callable[[object], Any], default: Any, help: str = ""
    ) -> None:
        self.name = name
        self.env_var = f"PREFECT_SECRETS_{name.upper()}"
        self.parse = parse
        self.default = default
        self.help = help

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Setting):
            return NotImplemented
        return (self.name, self.parse, self.default) == (other.name, other.parse, other.default)

    def __hash__(self) -> int:
        return hash((self.name, self.parse))

    def __repr__(self) -> str:
        return f"Setting({self.name!r}, env_var={self.env_var!r})"


class Settings:
    """The settings in force (immutable), each with where it came from. Built by `load_settings`."""

    __slots__ = (
        "_origins",
        "cache_miss_ttl",
        "cache_ttl",
        "domain",
        "mask_patterns",
        "mask_regexes",
        "mask_streams",
        "min_mask_length",
        "mounted_dirs",
        "prefect1_config",
        "project",
        "push_invalidation",
        "retries",
        "server",
        "sources",
        "strict_permissions",
        "timeout",
    )

    _origins: dict[str, str]
    sources: tuple[str, ...] | None
    """Source kinds to ask, highest precedence first; None: the built-in order."""
    server: str
    """When to ask the Prefect server: "auto", "always" or "never"."""
    prefect1_config: str | None
    """Prefect 1's config file, read below ours for its [context.secrets]; None: off."""
    timeout: float
    """Seconds before one request to a remote store is abandoned."""
    retries: int
    """How many times a transient failure of a remote store is retried (with backoff)."""
    strict_permissions: bool
    """Refuse, rather than warn about, a config file that others can read."""
    cache_ttl: float
    """Seconds a value read from a remote store is reused in this process; 0: no cache."""
    cache_miss_ttl: float
    """Seconds a "no such secret" answer from a remote store is reused; 0: not cached."""
    push_invalidation: bool
    """Subscribe to the Prefect server's block events and drop changed blocks' answers."""
    min_mask_length: int
    """Values shorter than this are not masked in output (masking "a" would mask every "a")."""
    mask_patterns: tuple[str, ...]
    """Built-in token patterns masked even in values this library did not hand out."""
    mask_regexes: tuple[str, ...]
    """The user's own regular expressions, masked like the patterns."""
    mask_streams: bool
    """Mask what is written to sys.stdout and sys.stderr (print, tracebacks, warnings)."""
    project: str | None
    """The project scope of secrets that do not name one (None: no project)."""
    domain: str | None
    """The domain scope of secrets that do not name one (None: no domain)."""
    mounted_dirs: tuple[str, ...] | None
    """Directories of one-file-per-secret mounts; None: /run/secrets when it exists."""

    def __init__(self, values: dict[str, Any] | None = None, **origins: str) -> None:
        values = values or {}
        unknown = set(values) - set(SETTINGS)
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        for name, setting in SETTINGS.items():
            object.__setattr__(self, name, values.get(name, setting.default))
        object.__setattr__(self, "_origins", origins)

    def origin(self, name: str) -> str:
        """Where the value of setting `name` comes from: an env var, a file and line, or
        "default"."""
        if name not in SETTINGS:
            raise KeyError(name)
        return self._origins.get(name, "default")

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of every setting, in the documented order."""
        return ((name, getattr(self, name)) for name in SETTINGS)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Settings are immutable; set env vars or the file's [settings]")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return list(self) == list(other)

    def __hash__(self) -> int:
        return hash(tuple(value for _, value in self))

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in self)})"


#: Every setting, in the order `doctor` and the docs show them.
SETTINGS: dict[str, Setting] = {
    setting.name: setting
    for setting in (
        Setting("sources", parse_sources, None, "source kinds to ask, highest first"),
        Setting("server", parse_server, "auto", "when to ask the Prefect server"),
        Setting(
            "prefect1_config",
            parse_path,
            os.path.join("~", ".prefect", "config.toml"),
            'Prefect 1\'s config file, read for its [context.secrets]; "" turns it off',
        ),
        Setting("timeout", parse_seconds, 5.0, "seconds before a request is abandoned"),
        Setting("retries", parse_count, 2, "retries of a transient failure"),
        Setting("strict_permissions", parse_bool, False, "refuse a config file others can read"),
        Setting("cache_ttl", parse_ttl, 60.0, "seconds a remote answer is reused"),
        Setting("cache_miss_ttl", parse_ttl, 5.0, "seconds a remote 'no such secret' is reused"),
        Setting(
            "push_invalidation",
            parse_bool,
            True,
            "drop cached server answers when the server says a block changed",
        ),
        Setting("min_mask_length", parse_mask_length, 4, "shorter values are not masked"),
        Setting("mask_patterns", parse_mask_patterns, (), "built-in token patterns to mask"),
        Setting("mask_regexes", parse_mask_regexes, (), "your own patterns to mask"),
        Setting("mask_streams", parse_bool, True, "mask what is written to stdout/stderr"),
        Setting("project", scope_parser("project"), None, "the default project scope"),
        Setting("domain", scope_parser("domain"), None, "the default domain scope"),
        Setting("mounted_dirs", parse_dirs, None, "directories of mounted secret files"),
    )
}

#: Prefect 1's switch, kept as an alias of `server`: true = never ask the server.
USE_LOCAL_SECRETS = "use_local_secrets"
_ALIAS_ENV_VAR = "PREFECT__CLOUD__USE_LOCAL_SECRETS"
_ENV_VARS = (*(setting.env_var for setting in SETTINGS.values()), _ALIAS_ENV_VAR)
#: Every lookup past the env vars reads all of them: the generated reader costs half of
#: a `snapshot` (see `_core.environ.reader`).
_read_env_vars = reader(_ENV_VARS)


def _env_layer(values: dict[str, Any], origins: dict[str, str]) -> None:
    for name, setting in SETTINGS.items():
        raw = getenv(setting.env_var)
        if raw is not None:
            values[name] = _parse(setting.parse, raw, setting.env_var)
            origins[name] = f"env {setting.env_var}"
    alias = getenv(_ALIAS_ENV_VAR)
    if alias is not None:
        use_local = _parse(parse_bool, alias, _ALIAS_ENV_VAR)
        both = f"{_ALIAS_ENV_VAR} and {SETTINGS['server'].env_var}"
        _merge_alias(values, origins, use_local, f"env {_ALIAS_ENV_VAR}", both)


def _file_layer(document: ConfigDocument, values: dict[str, Any], origins: dict[str, str]) -> None:
    table = document.settings
    for key, raw in table.items():
        if key == USE_LOCAL_SECRETS or isinstance(raw, dict):
            continue  # a table is a source's settings ([settings.aws]): read by that source
        setting = SETTINGS.get(key)
        where = f"{document.where('settings', key)}: [settings] {key}"
        if setting is None:
            known = ", ".join([*SETTINGS, USE_LOCAL_SECRETS])
            raise SettingsError(f"{where} is not a known setting (known: {known})")
        values[key] = _parse(setting.parse, raw, where)
        origins[key] = document.where("settings", key)
    if USE_LOCAL_SECRETS in table:
        where = f"{document.where('settings', USE_LOCAL_SECRETS)}: [settings] {USE_LOCAL_SECRETS}"
        use_local = _parse(parse_bool, table[USE_LOCAL_SECRETS], where)
        origin = f"{document.where('settings', USE_LOCAL_SECRETS)} ({USE_LOCAL_SECRETS})"
        _merge_alias(values, origins, use_local, origin, f"{where} and [settings] server")


def _merge_alias(
    values: dict[str, Any], origins: dict[str, str], use_local: bool, origin: str, both: str
) -> None:
    mode = "never" if use_local else "always"
    if values.setdefault("server", mode) != mode:
        raise SettingsError(f"{both} disagree: set only one of them")
    origins.setdefault("server", origin)


def _parse(parse: Callable[[object], Any], raw: object, where: str) -> Any:
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{where} = {raw!r} is invalid: {exc}") from None


# Keyed by the document itself (compared by identity) and the raw env values.
_cache: dict[tuple[object, ...], Settings] = {}
#: (document, env values, settings) of the last call.
_last: tuple[object, tuple[object, ...], Settings] | None = None


def load_settings(document: ConfigDocument) -> Settings:
    """The settings in force: env vars > `document`'s [settings] > defaults.

    Env vars are read at every call; parsing happens once per combination of
    env values and file version.
    """
    environment = _read_env_vars()
    # Lookups in a row see the same file and env: one identity and one tuple comparison,
    # no hashing of the 17 values.
    last = _last
    if last is not None and last[0] is document and last[1] == environment:
        return last[2]
    key = (document, environment)
    found = _cache.get(key)
    if found is None:
        file_values: dict[str, Any] = {}
        file_origins: dict[str, str] = {}
        _file_layer(document, file_values, file_origins)
        env_values: dict[str, Any] = {}
        env_origins: dict[str, str] = {}
        _env_layer(env_values, env_origins)
        if len(_cache) >= 64:
            _cache.clear()
        found = _cache[key] = Settings(
            {**file_values, **env_values}, **{**file_origins, **env_origins}
        )
    _set_last((document, environment, found))
    return found


def _set_last(entry: tuple[object, tuple[object, ...], Settings]) -> None:
    global _last
    _last = entry  # one tuple, replaced whole: another thread never sees a mixed entry
