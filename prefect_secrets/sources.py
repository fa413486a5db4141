"""The source contract: how prefect-secrets asks one place for a secret, and how to add a place.

A source answers one question, `lookup(key, config)`: the value stored for
`key`, or `MISSING` when it has none. Everything else is optional:

| method                        | default                       | used by                      |
|-------------------------------|-------------------------------|------------------------------|
| `lookup(key, config)`         | (required)                    | `get`, `exists`, `which`     |
| `alookup(key, config)`        | `lookup`, on a worker thread  | `aget` and async code        |
|                               | if `blocking_io`              |                              |
| `lookup_many(keys, config)`   | `lookup` for each key         | `get_many`, scope chains     |
| `alookup_many(keys, config)`  | `lookup_many`, as `alookup`   | `aget_many`                  |
| `names(config)`               | cannot list                   | `prefect-secrets ls`         |
| `write(key, value, config)`   | cannot store                  | `prefect-secrets set/import` |
| `delete(key, config)`         | cannot delete                 | `prefect-secrets delete`     |
| `exists(key, config)`         | `lookup(...) is not MISSING`  | `set`/`import` (replace?)    |
| `place(key, config)`          | "<kind> <name>"               | messages, `which`, `ls`      |
| `stored_place(key, config)`   | `place`                       | `set`/`delete` messages      |
| `lookup_version(key, v, cfg)` | no versions (an error)        | `Secret(name, version=...)`  |
| `alookup_version(key, v, cfg)`| `lookup_version`, as `alookup`| `Secret(..., version=).aget` |
| `versions(key, config)`       | no versions (an error)        | the source's users (audits)  |
| `version_history(key, config)`| `versions`, no creation times | `ls --versions`              |
| `skip_reason(config)`         | never skipped                 | `which`, `ls`, `doctor`      |
| `check(config)`               | a `names` call                | `doctor`                     |

A source that has settings of its own declares them in `setting_specs`
(`Setting(name, parse, default, help)`); users write them in the config
file's `[settings.<kind>]` table or as env vars `PREFECT_SECRETS_<KIND>_<NAME>`,
and the source reads them with `config.source_settings(self)`.

The rules every source keeps:
- `MISSING` means "this source has no such secret". A source that cannot tell
  (unreadable file, unreachable server, access denied) raises
  `SecretSourceError` naming itself and the secret: a failure is never
  reported as "not found", and the lookup stops there.
- Values are returned as stored: strings holding JSON are decoded by the
  caller, and registered for masking by the caller.
- No message, repr or log line of a source holds a value.
- A store that keeps versions sets `versioned = True` and implements
  `lookup_version` (MISSING for a version it does not have) and `versions`: a
  pinned `Secret(name, version=...)` is answered only by such a source, and is
  an error at any other that holds the name (README "Versions").

A minimal source, shipped by any package:

    from prefect_secrets.sources import MISSING, SecretKey, SecretSource, SourceConfig

    class TeamFileSource(SecretSource):
        kind = "team-file"

        def lookup(self, key: SecretKey, config: SourceConfig) -> object:
            values = read_team_file()              # your I/O
            return values.get(key.name, MISSING)

    # pyproject.toml of that package:
    # [project.entry-points."prefect_secrets.sources"]
    # team-file = "team_secrets:TeamFileSource"

and enabled, in its place in the order, with the setting `sources`
(`PREFECT_SECRETS_SOURCES=context,env,team-file,file`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._config.settings import Setting
from prefect_secrets._config.source_settings import SourceSettings
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError, UnsupportedBySource
from prefect_secrets._core.missing import MISSING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any, ClassVar

__all__ = [
    "MISSING",
    "SecretKey",
    "SecretSource",
    "SecretSourceError",
    "Setting",
    "SourceConfig",
    "SourceSettings",
    "UnsupportedBySource",
    "org_key",
]


class SecretKey(tuple[str, "str | None", "str | None"]):
    """A secret name in one scope: (name, project, domain); project and domain are None
    for org-wide. A plain tuple (hashable, cheap), with names."""

    __slots__ = ()

    def __new__(cls, name: str, project: str | None = None, domain: str | None = None) -> SecretKey:
        return tuple.__new__(cls, (name, project, domain))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def project(self) -> str | None:
        return self[1]

    @property
    def domain(self) -> str | None:
        return self[2]

    @property
    def scoped(self) -> bool:
        """Whether the key names a project or a domain."""
        return self[1] is not None or self[2] is not None

    def __repr__(self) -> str:
        return f"SecretKey(name={self[0]!r}, project={self[1]!r}, domain={self[2]!r})"


class _OrgKeys(dict[str, SecretKey]):
    """Org-wide keys by name, built once per name: every lookup needs one."""

    def __missing__(self, name: str) -> SecretKey:
        key = SecretKey(name)
        if len(self) < 4096:  # programs that make names up must not grow it forever
            self[name] = key
        return key


#: `org_key(name)`: the org-wide `SecretKey` of `name`. A dict's own `__getitem__`, so
#: that a known name costs no Python call (0.1 us of a 2 us lookup, measured).
org_key: Callable[[str], SecretKey] = _OrgKeys().__getitem__


class SecretSource(ABC):
    """One place secrets can come from. Subclass it, set `kind`, implement `lookup`."""

    #: Short label shown by `which` and `ls`, and used in the `sources` setting.
    kind: ClassVar[str]
    #: Whether the source stores secrets per project/domain scope. Unscoped sources are
    #: asked for the name alone and answer for every scope.
    scoped: ClassVar[bool] = False
    #: Whether `lookup` may block on I/O (the network). Async lookups then run it on a
    #: worker thread, so that the event loop never waits on it.
    blocking_io: ClassVar[bool] = True
    #: The settings this source reads: `[settings.<kind>]` in the config file, env vars
    #: `PREFECT_SECRETS_<KIND>_<NAME>`; read with `config.source_settings(self)`.
    setting_specs: ClassVar[tuple[Setting, ...]] = ()
    #: Whether the store keeps versions of a secret (`Secret(name, version="3")`).
    versioned: ClassVar[bool] = False

    @abstractmethod
    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        """The stored value of `key`, or `MISSING`. Raises `SecretSourceError` when the
        source cannot tell."""

    async def alookup(self, key: SecretKey, config: SourceConfig) -> Any:
        """`lookup` for async callers."""
        if not self.blocking_io:
            return self.lookup(key, config)
        import asyncio

        return await asyncio.to_thread(self.lookup, key, config)

    def lookup_many(self, keys: Sequence[SecretKey], config: SourceConfig) -> dict[SecretKey, Any]:
        """{key: stored value} for those of `keys` this source has. Sources that can
        batch (one request for many names) override it."""
        found = {}
        for key in keys:
            value = self.lookup(key, config)
            if value is not MISSING:
                found[key] = value
        return found

    async def alookup_many(
        self, keys: Sequence[SecretKey], config: SourceConfig
    ) -> dict[SecretKey, Any]:
        """`lookup_many` for async callers."""
        if not self.blocking_io:
            return self.lookup_many(keys, config)
        import asyncio

        return await asyncio.to_thread(self.lookup_many, keys, config)

    def lookup_version(self, key: SecretKey, version: str, config: SourceConfig) -> Any:
        """The value of `version` of `key`, or MISSING (no such secret, or no such version)."""
        raise UnsupportedBySource(
            f"source {self.kind!r} keeps no versions: a pinned version cannot be read from it"
        )

    async def alookup_version(self, key: SecretKey, version: str, config: SourceConfig) -> Any:
        """`lookup_version` for async callers."""
        if not self.blocking_io:
            return self.lookup_version(key, version, config)
        import asyncio

        return await asyncio.to_thread(self.lookup_version, key, version, config)

    def versions(self, key: SecretKey, config: SourceConfig) -> list[str]:
        """The versions of `key` the store keeps, oldest first."""
        raise UnsupportedBySource(f"source {self.kind!r} keeps no versions")

    def version_history(self, key: SecretKey, config: SourceConfig) -> list[tuple[str, str | None]]:
        """(version, when it was created: ISO 8601, or None when the store does not say) for
        each version of `key`, oldest first (`ls --versions`). Never values."""
        return [(version, None) for version in self.versions(key, config)]

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        """Every key this source holds (never values), for `prefect-secrets ls`."""
        raise UnsupportedBySource(f"source {self.kind!r} cannot list its secrets")

    def write(self, key: SecretKey, value: Any, config: SourceConfig) -> str:
        """Store `value` under `key`: "created" or "replaced"."""
        raise UnsupportedBySource(f"source {self.kind!r} cannot store secrets")

    def write_many(
        self, values: Mapping[SecretKey, Any], config: SourceConfig, *, overwrite: bool = True
    ) -> dict[SecretKey, str]:
        """Store several values: {key: "created", "replaced" or "kept"} ("kept": it existed
        and `overwrite` is False). Sources that can write several at once override it."""
        outcomes: dict[SecretKey, str] = {}
        for key, value in values.items():
            if not overwrite and self.exists(key, config):
                outcomes[key] = "kept"
            else:
                outcomes[key] = self.write(key, value, config)
        return outcomes

    def delete(self, key: SecretKey, config: SourceConfig) -> bool:
        """Delete `key`; False when the source did not have it."""
        raise UnsupportedBySource(f"source {self.kind!r} cannot delete secrets")

    def exists(self, key: SecretKey, config: SourceConfig) -> bool:
        """Whether the store holds `key`, asked before writing over or deleting it (also
        when lookups skip the source in this configuration)."""
        return self.lookup(key, config) is not MISSING

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        """Where `lookup` looks for `key` (where it found it, if it has it), for messages.
        Never a value."""
        return f"{self.kind} {key.name}"

    def stored_place(self, key: SecretKey, config: SourceConfig) -> str:
        """Where `write` stores `key`, for messages. Never a value."""
        return self.place(key, config)

    def skip_reason(self, config: SourceConfig) -> str | None:
        """Why this source is not asked at all in this configuration; None when it is."""
        return None

    def check(self, config: SourceConfig) -> str:
        """Whether the source is reachable and this process may use it, for `doctor`: a
        short description of what was checked. Raises what a lookup would raise."""
        count = sum(1 for _ in self.names(config))
        return f"listed {count} secret{'s' if count != 1 else ''}"

    def canonical_name(self, name: str) -> str:
        """The name under which this source stores `name` (a server may fold case): two
        names with one canonical name are one secret there. `ls` uses it for shadowing."""
        return name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind!r}>"
