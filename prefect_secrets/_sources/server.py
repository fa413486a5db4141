"""The Prefect server's `Secret` blocks (`prefect.blocks.system.Secret`).

Secrets created in the Prefect UI, with `prefect block create secret`, or with
`Secret(value=...).save("warehouse-password")` are found under the name
mapping in `_core.names` (`WAREHOUSE_PASSWORD` -> block `warehouse-password`;
scoped: `scope--<project>--<domain>--<block>`). When lookups ask the server at
all is the setting `server` (see `_server.endpoint`).

A lookup asks the answer cache first (values for `cache_ttl` seconds, misses
for `cache_miss_ttl`), then joins the fetch already running for the same block
or starts one: concurrent lookups of one secret cost one HTTP request.
"""

from __future__ import annotations

import sys

from prefect_secrets._config.settings import Settings
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError, UnsupportedBySource
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import (
    block_name,
    is_reserved_block_name,
    parse_block_name,
    reserved_block_name_message,
)
from prefect_secrets._server.cache import NOT_CACHED, invalidate, server_answers
from prefect_secrets._server.endpoint import server_skip_reason
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, TypedDict, TypeVar

    _T = TypeVar("_T")

    class _Bounds(TypedDict):
        timeout: float
        retries: int

    from prefect_secrets._core.flight import SingleFlight
    from prefect_secrets._server.client import ServerClient
    from prefect_secrets._server.endpoint import Endpoint

__all__ = ["ServerSource"]


class ServerSource(SecretSource):
    kind = "server"
    scoped = True

    def __init__(self) -> None:
        self._single_flight: SingleFlight | None = None

    @property
    def _flight(self) -> SingleFlight:
        # Imported on first use: threads and httpx are not needed by local lookups.
        if self._single_flight is None:
            from prefect_secrets._core.flight import SingleFlight

            self._single_flight = SingleFlight()
        return self._single_flight

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        answer, cache_key = self._cached(key, config)
        if answer is NOT_CACHED:
            # Here, not at the top: an env lookup must not import threads and futures.
            from prefect_secrets._core.flight import FlightTimeout
            from prefect_secrets._sources.remote import deadline_of

            settings = config.settings
            try:
                answer = self._flight.run(
                    cache_key, lambda: self._fetch(cache_key, settings), deadline_of(settings)
                )
            except FlightTimeout:
                raise _too_slow(cache_key, settings) from None
        return answer

    async def alookup(self, key: SecretKey, config: SourceConfig) -> Any:
        if "prefect.settings" not in sys.modules:
            # The first lookup imports prefect (about a second): not on the event loop.
            import asyncio

            await asyncio.to_thread(_import_prefect_settings)
        answer, cache_key = self._cached(key, config)
        if answer is NOT_CACHED:
            from prefect_secrets._core.flight import FlightTimeout
            from prefect_secrets._sources.remote import deadline_of

            settings = config.settings
            try:
                answer = await self._flight.arun(
                    cache_key, lambda: self._fetch(cache_key, settings), deadline_of(settings)
                )
            except FlightTimeout:
                raise _too_slow(cache_key, settings) from None
        return answer

    def _cached(self, key: SecretKey, config: SourceConfig) -> tuple[Any, Any]:
        """(answer, cache key): the answer is MISSING when the server is not to be asked,
        a cached answer, or NOT_CACHED when a request is needed."""
        settings = config.settings
        block = _block_of(key)
        if block is None or server_skip_reason(settings) is not None:
            return MISSING, None
        from prefect_secrets._server.endpoint import current_endpoint

        endpoint = current_endpoint()
        cache_key = (endpoint, block)
        answer = server_answers.get(cache_key, settings.cache_ttl, settings.cache_miss_ttl)
        if answer is not NOT_CACHED and settings.push_invalidation:
            _watch_for_rotations(endpoint, settings.timeout)
        return answer, cache_key

    def _fetch(self, cache_key: tuple[Endpoint, str], settings: Settings) -> Any:
        from prefect_secrets._server.client import client_for

        endpoint, block = cache_key
        generation = server_answers.generation
        answer = client_for(endpoint).read_secret_block(
            block, timeout=settings.timeout, retries=settings.retries
        )
        server_answers.put(
            cache_key, answer, generation, settings.cache_ttl, settings.cache_miss_ttl
        )
        return answer

    def lookup_many(self, keys: Sequence[SecretKey], config: SourceConfig) -> dict[SecretKey, Any]:
        """Cached answers, plus everything else in one filter request per 200 names."""
        settings = config.settings
        if server_skip_reason(settings) is not None:
            return {}
        from prefect_secrets._server.client import client_for
        from prefect_secrets._server.endpoint import current_endpoint

        endpoint = current_endpoint()
        found: dict[SecretKey, Any] = {}
        to_fetch: dict[SecretKey, str] = {}
        from_cache = False
        for key in keys:
            block = _block_of(key)
            if block is None:
                continue
            answer = server_answers.get(
                (endpoint, block), settings.cache_ttl, settings.cache_miss_ttl
            )
            if answer is NOT_CACHED:
                to_fetch[key] = block
                continue
            from_cache = True
            if answer is not MISSING:
                found[key] = answer
        if from_cache and settings.push_invalidation:
            _watch_for_rotations(endpoint, settings.timeout)
        if to_fetch:
            generation = server_answers.generation
            fetched = client_for(endpoint).read_secret_blocks(
                list(to_fetch.values()), timeout=settings.timeout, retries=settings.retries
            )
            for key, block in to_fetch.items():
                answer = fetched.get(block, MISSING)
                server_answers.put(
                    (endpoint, block),
                    answer,
                    generation,
                    settings.cache_ttl,
                    settings.cache_miss_ttl,
                )
                if answer is not MISSING:
                    found[key] = answer
        return found

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        settings = config.settings
        reason = server_skip_reason(settings)
        if reason is not None:
            raise UnsupportedBySource(f"Prefect server not listed: {reason}")
        from prefect_secrets._server.endpoint import configured_api_url

        if configured_api_url() is None:
            raise UnsupportedBySource(
                "Prefect server not listed: no PREFECT_API_URL is set (listing does not start "
                "Prefect's temporary server)"
            )
        client = _writer(settings)
        keys = []
        for block in client.list_secret_blocks(timeout=settings.timeout, retries=settings.retries):
            base, project, domain = parse_block_name(block)
            keys.append(
                org_key(base)
                if project is None and domain is None
                else SecretKey(base, project, domain)
            )
        return keys

    def write(self, key: SecretKey, value: Any, config: SourceConfig) -> str:
        save = lambda client, block, bounds: client.save_secret_block(block, value, **bounds)  # noqa: E731
        return str(_on_configured_server(key, config, save))

    def delete(self, key: SecretKey, config: SourceConfig) -> bool:
        delete = lambda client, block, bounds: client.delete_secret_block(block, **bounds)  # noqa: E731
        return bool(_on_configured_server(key, config, delete))

    def exists(self, key: SecretKey, config: SourceConfig) -> bool:
        # Asked before a write or delete: the configured server, never the temporary one.
        exists = lambda client, block, bounds: client.block_exists(block, **bounds)  # noqa: E731
        return bool(_on_configured_server(key, config, exists))

    def stored_place(self, key: SecretKey, config: SourceConfig) -> str:
        block = _storable_block_of(key)
        from prefect_secrets._server.endpoint import require_api_url

        return f"Secret block '{block}' on the Prefect server {require_api_url()}"

    def skip_reason(self, config: SourceConfig) -> str | None:
        return server_skip_reason(config.settings)

    def canonical_name(self, name: str) -> str:
        return block_name(name)

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        reason = server_skip_reason(config.settings)
        if reason is not None:
            return f"Prefect server: not asked ({reason})"
        block = _block_of(key)
        if block is None:
            return f"Prefect server: not asked for {key.name!r} ({_reserved_why(key.name)})"
        from prefect_secrets._server.client import BLOCK_TYPE_SLUG
        from prefect_secrets._server.endpoint import current_endpoint

        return f"Prefect server {current_endpoint()} block '{BLOCK_TYPE_SLUG}/{block}'"


def _watch_for_rotations(endpoint: Endpoint, timeout: float) -> None:
    # At each answer this process reads from its cache: it reads again, so it lives long
    # enough for pushed rotations to matter (`_server.push`; a dict read once started).
    from prefect_secrets._server.push import watch

    watch(endpoint, timeout=timeout)


def _too_slow(cache_key: tuple[Endpoint, str], settings: Settings) -> SecretSourceError:
    # httpx bounds each read, not a whole answer: a server that trickles bytes slower than
    # `timeout` but never stops is cut off here, in sync and async code alike.
    from prefect_secrets._server.client import BLOCK_TYPE_SLUG, client_for
    from prefect_secrets._sources.remote import deadline_of

    endpoint, block = cache_key
    attempts = settings.retries + 1
    return client_for(endpoint).error(
        f"reading block '{BLOCK_TYPE_SLUG}/{block}'",
        f"no complete answer within {deadline_of(settings):g} s (timeout "
        f"{settings.timeout:g} s x {attempts} attempt{'s' if attempts > 1 else ''}, "
        "and their pauses)",
    )


def _import_prefect_settings() -> None:
    import prefect.settings  # noqa: F401 - only its import cost matters here


def _block_of(key: SecretKey) -> str | None:
    """The block name of `key`; None for an org-wide name in the reserved scoped form."""
    if key[1] is None and key[2] is None and is_reserved_block_name(key[0]):
        return None
    return block_name(key[0], key[1], key[2])


def _storable_block_of(key: SecretKey) -> str:
    block = _block_of(key)
    if block is None:
        raise UnsupportedBySource(reserved_block_name_message(key.name))
    return block


def _reserved_why(name: str) -> str:
    return reserved_block_name_message(name).split(": ", 1)[1]


def _writer(settings: Settings) -> ServerClient:
    """The client for writes and listings: never Prefect's temporary server."""
    from prefect_secrets._server.client import client_for
    from prefect_secrets._server.endpoint import current_endpoint

    return client_for(current_endpoint(start_temporary=False))


def _on_configured_server(
    key: SecretKey, config: SourceConfig, call: Callable[[ServerClient, str, _Bounds], _T]
) -> _T:
    """`call(client, block, bounds)` for the block of `key` on the configured server (never
    the temporary one); this process's cache then forgets that block."""
    block = _storable_block_of(key)
    settings = config.settings
    bounds: _Bounds = {"timeout": settings.timeout, "retries": settings.retries}
    try:
        return call(_writer(settings), block, bounds)
    finally:
        invalidate(block)
