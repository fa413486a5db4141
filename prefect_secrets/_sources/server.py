"""The Prefect server's `Secret` blocks (`prefect.blocks.system.Secret`).

Secrets created in the Prefect UI, with `prefect block create secret`, or with
`Secret(value=...).save("warehouse-password")` are found under the name
mapping in `_names` (`WAREHOUSE_PASSWORD` -> block `warehouse-password`).

When the server is asked (setting `server`):
- "never": not asked.
- "always": asked; with no PREFECT_API_URL, Prefect's temporary server is used.
- "auto" (default): asked when PREFECT_API_URL is set (in the environment, in
  Prefect's settings if Prefect is imported, or in the active Prefect
  profile), or when the code runs inside a Prefect flow or task run.
  Otherwise a missing secret fails in milliseconds, never by starting a server.
"""

from __future__ import annotations

import os
import sys

from prefect_secrets._cache import NOT_CACHED, AnswerCache
from prefect_secrets._config import Config
from prefect_secrets._environ import getenv
from prefect_secrets._names import SCOPED_BLOCK_PREFIX, block_name, is_reserved_block_name
from prefect_secrets._sentinel import MISSING
from prefect_secrets._settings import Settings
from prefect_secrets._sources.base import SecretKey, SecretSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from prefect_secrets._flight import SingleFlight
    from prefect_secrets._server_client import Endpoint

__all__ = ["ServerSource", "invalidate", "server_skip_reason"]


class ServerSource(SecretSource):
    """Secret blocks, through an in-memory answer cache and single-flight fetches.

    A lookup asks the cache first (values for `cache_ttl` seconds, misses for
    `cache_miss_ttl`), then joins the fetch already running for the same block
    or starts one: concurrent lookups of one secret cost one HTTP request.
    """

    kind = "server"
    scoped = True

    def __init__(self) -> None:
        self.cache = AnswerCache()
        self._single_flight: SingleFlight | None = None

    @property
    def _flight(self) -> SingleFlight:
        # Imported on first use: threads and httpx are not needed by local lookups.
        if self._single_flight is None:
            from prefect_secrets._flight import SingleFlight

            self._single_flight = SingleFlight()
        return self._single_flight

    def lookup(self, key: SecretKey, config: Config) -> Any:
        settings = config.settings
        if server_skip_reason(settings) is not None:
            return MISSING
        from prefect_secrets._server_client import current_endpoint

        block = _block_of(key)
        if block is None:
            return MISSING
        endpoint = current_endpoint()
        cache_key = (endpoint, block)
        answer = self.cache.get(cache_key, settings.cache_ttl, settings.cache_miss_ttl)
        if answer is not NOT_CACHED:
            return answer
        return self._flight.run(cache_key, lambda: self._fetch(cache_key, settings))

    async def alookup(self, key: SecretKey, config: Config) -> Any:
        settings = config.settings
        if server_skip_reason(settings) is not None:
            return MISSING
        from prefect_secrets._server_client import current_endpoint

        if "prefect.settings" in sys.modules:
            endpoint = current_endpoint()
        else:
            # The first lookup imports prefect (about a second): not on the event loop.
            import asyncio

            endpoint = await asyncio.to_thread(current_endpoint)
        block = _block_of(key)
        if block is None:
            return MISSING
        cache_key = (endpoint, block)
        answer = self.cache.get(cache_key, settings.cache_ttl, settings.cache_miss_ttl)
        if answer is not NOT_CACHED:
            return answer
        return await self._flight.arun(cache_key, lambda: self._fetch(cache_key, settings))

    def _fetch(self, cache_key: tuple[Endpoint, str], settings: Settings) -> Any:
        from prefect_secrets._server_client import client_for

        endpoint, block = cache_key
        generation = self.cache.generation
        answer = client_for(endpoint).read_secret_block(
            block, timeout=settings.timeout, retries=settings.retries
        )
        self.cache.put(cache_key, answer, generation, settings.cache_ttl, settings.cache_miss_ttl)
        return answer

    def lookup_many(self, keys: Sequence[SecretKey], config: Config) -> dict[SecretKey, Any]:
        """Cached answers, plus everything else in one filter request per 200 names."""
        settings = config.settings
        if server_skip_reason(settings) is not None:
            return {}
        from prefect_secrets._server_client import client_for, current_endpoint

        endpoint = current_endpoint()
        found: dict[SecretKey, Any] = {}
        to_fetch: dict[SecretKey, str] = {}
        for key in keys:
            block = _block_of(key)
            if block is None:
                continue
            answer = self.cache.get((endpoint, block), settings.cache_ttl, settings.cache_miss_ttl)
            if answer is NOT_CACHED:
                to_fetch[key] = block
            elif answer is not MISSING:
                found[key] = answer
        if to_fetch:
            generation = self.cache.generation
            fetched = client_for(endpoint).read_secret_blocks(
                list(to_fetch.values()), timeout=settings.timeout, retries=settings.retries
            )
            for key, block in to_fetch.items():
                answer = fetched.get(block, MISSING)
                self.cache.put(
                    (endpoint, block),
                    answer,
                    generation,
                    settings.cache_ttl,
                    settings.cache_miss_ttl,
                )
                if answer is not MISSING:
                    found[key] = answer
        return found

    async def alookup_many(self, keys: Sequence[SecretKey], config: Config) -> dict[SecretKey, Any]:
        import asyncio

        # The filter request is one blocking call on the shared connection
        # pool; run it on a thread, in this context (Prefect's settings live
        # in context variables).
        return await asyncio.to_thread(self.lookup_many, keys, config)

    def skip_reason(self, config: Config) -> str | None:
        return server_skip_reason(config.settings)

    def place(self, key: SecretKey, config: Config) -> str:
        reason = server_skip_reason(config.settings)
        if reason is not None:
            return f"Prefect server: not asked ({reason})"
        block = _block_of(key)
        if block is None:
            return (
                f"Prefect server: not asked for {key.name!r} (org-wide block names starting "
                f"with {SCOPED_BLOCK_PREFIX!r} are reserved for scoped secrets)"
            )
        from prefect_secrets._server_client import BLOCK_TYPE_SLUG, current_endpoint

        return f"Prefect server {current_endpoint()} block '{BLOCK_TYPE_SLUG}/{block}'"


def _block_of(key: SecretKey) -> str | None:
    """The block name of `key`; None for an org-wide name in the reserved scoped form."""
    if key[1] is None and key[2] is None and is_reserved_block_name(key[0]):
        return None
    return block_name(key[0], key[1], key[2])


def server_skip_reason(settings: Settings) -> str | None:
    """Why the server is not to be asked, or None when it is."""
    if settings.server == "always":
        return None
    if settings.server == "never":
        return "server = never"
    if getenv("PREFECT_API_URL"):
        return None
    if "prefect.context" in sys.modules:
        if _in_prefect_run() or _prefect_api_url_setting():
            return None
    elif _profile_api_url():
        return None
    return (
        "server = auto, no PREFECT_API_URL is set and this is not a flow run; "
        "set PREFECT_SECRETS_SERVER=always to ask Prefect's temporary server"
    )


def _in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _prefect_api_url_setting() -> bool:
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


_profiles_cache: dict[tuple[str, str | None, int, int], bool] = {}


def _profile_api_url() -> bool:
    """Whether the active Prefect profile sets PREFECT_API_URL, read without importing prefect."""
    home = getenv("PREFECT_HOME") or os.path.join(
        getenv("HOME") or os.path.expanduser("~"), ".prefect"
    )
    path = getenv("PREFECT_PROFILES_PATH") or os.path.join(home, "profiles.toml")
    try:
        st = os.stat(os.path.expanduser(path))
    except OSError:
        return False
    active = getenv("PREFECT_PROFILE")
    key = (path, active, st.st_mtime_ns, st.st_size)
    if key not in _profiles_cache:
        import tomllib

        try:
            with open(os.path.expanduser(path), "rb") as handle:
                profiles = tomllib.load(handle)
            name = active or profiles.get("active") or "ephemeral"
            _profiles_cache[key] = bool(
                profiles.get("profiles", {}).get(name, {}).get("PREFECT_API_URL")
            )
        except (OSError, tomllib.TOMLDecodeError, AttributeError):
            # Prefect itself reports a broken profiles file when it loads it.
            _profiles_cache[key] = False
    return _profiles_cache[key]


def invalidate(block: str | None = None) -> None:
    """Forget cached server answers for Secret block `block` (all blocks when None).

    Called by this library after it writes or deletes a block, so that the
    next lookup in this process sees the change at once.
    """
    from prefect_secrets._resolver import SOURCES

    for source in SOURCES:
        if isinstance(source, ServerSource):
            if block is None:
                source.cache.invalidate()
            else:
                source.cache.invalidate(lambda cache_key: cache_key[1] == block)  # type: ignore[index]
