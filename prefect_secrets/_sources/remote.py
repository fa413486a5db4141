"""`RemoteSource`: what every store across the network shares (cloud secret managers,
Vault, the OS keychain, Prefect blocks), so that each one only speaks its own API.

| the base class does                         | the store's class does             |
|---------------------------------------------|------------------------------------|
| answers cached in memory (`cache_ttl`,      | `store_name(key)`: the name in the |
| `cache_miss_ttl`), dropped after a write    | store (its naming rules, scopes)   |
| concurrent lookups of one name: one request | `fetch(name)`: the value, MISSING, |
| a total deadline per lookup:                | or a `SecretSourceError`           |
| `timeout` x (`retries` + 1) + backoff       | `fetch_many`, `store`, `remove`,   |
| `get_many` through `fetch_many` (batched    | `list_names`, `versions` where the |
| where the store can)                        | API has them                       |
| `SecretSourceError`s naming the store and   | `client(config)`: its SDK's client |
| the secret, never a value                   |                                    |
| the missing-extra error: pip install ...    |                                    |

The SDK is imported by `client()`, never at module import: `import prefect_secrets`
imports no store's SDK, and a store that is configured without its extra
installed fails with one `SettingsError` naming `pip install "prefect-secrets[<extra>]"`.
Retries are the SDK's own, configured from `timeout` and `retries` (401/403 never
retried); the deadline bounds the whole of them.
"""

from __future__ import annotations

from abc import abstractmethod
from importlib import import_module

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.answers import NOT_CACHED, AnswerCache
from prefect_secrets._core.errors import SecretSourceError, SettingsError, UnsupportedBySource
from prefect_secrets._core.flight import FlightTimeout, SingleFlight
from prefect_secrets._core.missing import MISSING
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import ModuleType
    from typing import Any, ClassVar

    from prefect_secrets._config.settings import Settings

__all__ = ["MAX_BACKOFF", "RemoteSource", "deadline_of", "require_extra"]

#: The longest pause between two attempts that a store's retries may take (seconds).
MAX_BACKOFF = 4.0


def deadline_of(settings: Settings) -> float:
    """The most one lookup may take: every attempt's timeout, and the pauses between."""
    return settings.timeout * (settings.retries + 1) + MAX_BACKOFF * settings.retries + 0.5


def require_extra(module: str, extra: str, kind: str) -> ModuleType:
    """Import `module` (a store's SDK), or say which extra to install."""
    try:
        return import_module(module)
    except ImportError:
        raise SettingsError(
            f'source {kind!r} needs {module.split(".")[0]}: pip install "prefect-secrets[{extra}]"'
        ) from None


class RemoteSource(SecretSource):
    """A store across the network. Subclasses set `kind`, `title`, `extra` and implement
    `store_name`, `fetch` and `client`; the rest is optional."""

    scoped = True
    blocking_io = True
    #: How messages name the store: "AWS Secrets Manager".
    title: ClassVar[str]
    #: The extra that installs its SDK: `pip install "prefect-secrets[<extra>]"`.
    extra: ClassVar[str]

    def __init__(self) -> None:
        self.answers = AnswerCache()
        self._flight = SingleFlight()

    # --- what each store implements ---------------------------------------------------------

    @abstractmethod
    def store_name(self, key: SecretKey, config: SourceConfig) -> str:
        """The name under which the store keeps `key` (prefix, scope, its naming rules)."""

    @abstractmethod
    def fetch(self, name: str, config: SourceConfig) -> Any:
        """The value stored under `name`, or MISSING; `SecretSourceError` on failure."""

    def fetch_many(self, names: Sequence[str], config: SourceConfig) -> dict[str, Any]:
        """{name: value} of those of `names` the store has; stores that batch override it."""
        found = {}
        for name in names:
            value = self.fetch(name, config)
            if value is not MISSING:
                found[name] = value
        return found

    def store(self, name: str, value: Any, config: SourceConfig) -> str:
        """Create or replace `name`: "created" or "replaced"."""
        raise UnsupportedBySource(f"source {self.kind!r} cannot store secrets")

    def remove(self, name: str, config: SourceConfig) -> bool:
        """Delete `name`; False when the store did not have it."""
        raise UnsupportedBySource(f"source {self.kind!r} cannot delete secrets")

    def list_names(self, config: SourceConfig) -> Iterable[str]:
        """Every name in the store that this library would look up (its prefix)."""
        raise UnsupportedBySource(f"source {self.kind!r} cannot list its secrets")

    def fetch_version(self, name: str, version: str, config: SourceConfig) -> Any:
        """The value of `version` of `name`, or MISSING (stores with versions override it)."""
        return super().lookup_version(SecretKey(name), version, config)

    def list_versions(self, name: str, config: SourceConfig) -> list[str]:
        """The versions of `name`, oldest first."""
        return [version for version, _ in self.list_version_history(name, config)]

    def list_version_history(self, name: str, config: SourceConfig) -> list[tuple[str, Any]]:
        """(version, its creation time: a datetime, an ISO 8601 string or None) for each
        version of `name`, oldest first (stores with versions override it)."""
        return [(version, None) for version in super().versions(SecretKey(name), config)]

    def key_of(self, name: str, config: SourceConfig) -> SecretKey | None:
        """The key a name in the store stands for (the reverse of `store_name`), or None
        for a name that is not one of this library's."""
        return None

    # --- the contract, done once for every store --------------------------------------------

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        name = self.store_name(key, config)
        settings = config.settings
        answer = self.answers.get(name, settings.cache_ttl, settings.cache_miss_ttl)
        if answer is not NOT_CACHED:
            return answer
        try:
            return self._flight.run(name, self._fetcher(name, config), deadline_of(settings))
        except FlightTimeout:
            raise self._too_slow(self.error_name(name, config), settings) from None

    async def alookup(self, key: SecretKey, config: SourceConfig) -> Any:
        name = self.store_name(key, config)
        settings = config.settings
        answer = self.answers.get(name, settings.cache_ttl, settings.cache_miss_ttl)
        if answer is not NOT_CACHED:
            return answer
        try:
            return await self._flight.arun(name, self._fetcher(name, config), deadline_of(settings))
        except FlightTimeout:
            raise self._too_slow(self.error_name(name, config), settings) from None

    def _fetcher(self, name: str, config: SourceConfig) -> Any:
        settings = config.settings
        generation = self.answers.generation

        def fetch() -> Any:
            answer = self.fetch(name, config)
            self.answers.put(name, answer, generation, settings.cache_ttl, settings.cache_miss_ttl)
            return answer

        return fetch

    def lookup_many(self, keys: Sequence[SecretKey], config: SourceConfig) -> dict[SecretKey, Any]:
        settings = config.settings
        names = {key: self.store_name(key, config) for key in keys}
        found: dict[SecretKey, Any] = {}
        to_fetch: dict[SecretKey, str] = {}
        for key, name in names.items():
            answer = self.answers.get(name, settings.cache_ttl, settings.cache_miss_ttl)
            if answer is NOT_CACHED:
                to_fetch[key] = name
            elif answer is not MISSING:
                found[key] = answer
        if to_fetch:
            generation = self.answers.generation
            batch = sorted(set(to_fetch.values()))
            try:
                fetched = self._flight.run(
                    ("many", *batch),
                    lambda: self.fetch_many(batch, config),
                    deadline_of(settings),
                )
            except FlightTimeout:
                more = f" and {len(batch) - 3} more" if len(batch) > 3 else ""
                shown = ", ".join(batch[:3]) + more
                raise self._too_slow(shown, settings) from None
            for key, name in to_fetch.items():
                answer = fetched.get(name, MISSING)
                self.answers.put(
                    name, answer, generation, settings.cache_ttl, settings.cache_miss_ttl
                )
                if answer is not MISSING:
                    found[key] = answer
        return found

    def lookup_version(self, key: SecretKey, version: str, config: SourceConfig) -> Any:
        name = self.store_name(key, config)
        settings = config.settings
        cache_key = f"{name}\0{version}"  # names never hold a NUL
        answer = self.answers.get(cache_key, settings.cache_ttl, settings.cache_miss_ttl)
        if answer is not NOT_CACHED:
            return answer
        generation = self.answers.generation

        def fetch() -> Any:
            answer = self.fetch_version(name, version, config)
            self.answers.put(
                cache_key, answer, generation, settings.cache_ttl, settings.cache_miss_ttl
            )
            return answer

        try:
            return self._flight.run(cache_key, fetch, deadline_of(settings))
        except FlightTimeout:
            raise self._too_slow(name, settings) from None

    def versions(self, key: SecretKey, config: SourceConfig) -> list[str]:
        return self.list_versions(self.store_name(key, config), config)

    def version_history(self, key: SecretKey, config: SourceConfig) -> list[tuple[str, str | None]]:
        history = self.list_version_history(self.store_name(key, config), config)
        # Stores give datetimes (AWS, GCP, Azure) or ISO text (Vault): one shape for `ls`.
        return [
            (
                version,
                created if created is None or isinstance(created, str) else created.isoformat(),
            )
            for version, created in history
        ]

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        keys = (self.key_of(name, config) for name in self.list_names(config))
        return [key for key in keys if key is not None]

    def write(self, key: SecretKey, value: Any, config: SourceConfig) -> str:
        name = self.store_name(key, config)
        try:
            return self.store(name, value, config)
        finally:
            self.answers.invalidate(lambda cached: str(cached).split("\0")[0] == name)

    def delete(self, key: SecretKey, config: SourceConfig) -> bool:
        name = self.store_name(key, config)
        try:
            return self.remove(name, config)
        finally:
            self.answers.invalidate(lambda cached: str(cached).split("\0")[0] == name)

    def exists(self, key: SecretKey, config: SourceConfig) -> bool:
        name = self.store_name(key, config)
        self.answers.invalidate(lambda cached: cached == name)  # ask the store, not the cache
        return self.fetch(name, config) is not MISSING

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        return f"{self.title} secret '{self.store_name(key, config)}'"

    def invalidate(self) -> None:
        """Forget every cached answer of this store."""
        self.answers.invalidate()

    # --- shared helpers ---------------------------------------------------------------------

    def error(self, name: str, reason: str) -> SecretSourceError:
        """The one-line failure for `name` (a name, or a few of a batch): the store, the
        secret's name, why; no value."""
        which = f"secrets '{name}'" if ", " in name else f"secret '{name}'"
        return SecretSourceError(f"{self.title}: {which}: {reason}", source=self.kind)

    def error_name(self, name: str, config: SourceConfig) -> str:
        """How errors name the secret stored as `name` (a store may search several places)."""
        return name

    def _too_slow(self, name: str, settings: Settings) -> SecretSourceError:
        attempts = settings.retries + 1
        return self.error(
            name,
            f"no complete answer within {deadline_of(settings):g} s (timeout {settings.timeout:g}"
            f" s x {attempts} attempt{'s' if attempts > 1 else ''}, and their pauses)",
        )
