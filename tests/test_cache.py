"""The in-memory cache of server answers and single-flight fetches, against a real server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from prefect_secrets import Secret
from prefect_secrets._server.cache import invalidate
from tests.support.servers import CountingProxy, PrefectServer, counting_proxy


def overwrite_block(server: PrefectServer, block: str, value: Any) -> None:
    """Change a block behind this library's back (as another machine would)."""
    from prefect.blocks.system import Secret as SecretBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        SecretBlock(value=value).save(block, overwrite=True)


def test_a_cached_value_costs_no_request(
    proxy: CountingProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    value = fake("cached")
    save_block("cache-hit", value)
    proxy.reset()
    assert [Secret("CACHE_HIT").get() for _ in range(50)] == [value] * 50
    assert proxy.total() == 1


def test_ttl_zero_turns_the_cache_off(
    proxy: CountingProxy,
    save_block: Callable[[str, Any], None],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    save_block("no-cache", fake("nocache"))
    proxy.reset()
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "0")
    for _ in range(3):
        Secret("NO_CACHE").get()
    assert proxy.total() == 3


def test_a_value_is_reread_after_its_ttl(
    server: PrefectServer,
    proxy: CountingProxy,
    save_block: Callable[[str, Any], None],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    old, new = fake("old"), fake("new")
    save_block("rotating", old)
    proxy.reset()
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "3")
    assert Secret("ROTATING").get() == old
    read_at = time.monotonic()
    overwrite_block(server, "rotating", new)
    assert Secret("ROTATING").get() == old  # still fresh in the cache
    assert time.monotonic() - read_at < 3, "the machine is too slow for this test's TTL"
    time.sleep(max(0.0, read_at + 3.1 - time.monotonic()))
    assert Secret("ROTATING").get() == new
    assert proxy.total() == 2


def test_misses_are_cached_briefly(
    server: PrefectServer,
    proxy: CountingProxy,
    save_block: Callable[[str, Any], None],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_MISS_TTL", "3")
    assert not Secret("LATE_ARRIVAL").exists()
    read_at = time.monotonic()
    assert not Secret("LATE_ARRIVAL").exists()
    assert proxy.total() == 1
    overwrite_block(server, "late-arrival", fake("late"))
    assert not Secret("LATE_ARRIVAL").exists()  # the miss is still fresh
    assert time.monotonic() - read_at < 3, "the machine is too slow for this test's TTL"
    time.sleep(max(0.0, read_at + 3.1 - time.monotonic()))
    assert Secret("LATE_ARRIVAL").exists()
    assert proxy.total() == 2
    server.delete_block("late-arrival")


def test_invalidate_drops_the_entry_at_once(
    server: PrefectServer,
    proxy: CountingProxy,
    save_block: Callable[[str, Any], None],
    fake: Callable[[str], str],
) -> None:
    """What this library's writers call after a write or delete."""
    old, new = fake("old"), fake("new")
    save_block("invalidated", old)
    assert Secret("INVALIDATED").get() == old
    overwrite_block(server, "invalidated", new)
    invalidate("invalidated")
    assert Secret("INVALIDATED").get() == new


def test_entries_are_per_server(
    server: PrefectServer, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    """The same block name on another API URL is another secret."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    save_block("per-server", fake("per-server"))
    assert Secret("PER_SERVER").exists()
    origin = server.origin
    with (
        counting_proxy(origin) as other,
        temporary_settings(updates={PREFECT_API_URL: other.url + "/api"}),
    ):
        assert Secret("PER_SERVER").exists()
        assert other.total() == 1


def test_100_threads_share_one_request(
    proxy: CountingProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    import contextvars

    value = fake("threads")
    save_block("hundred-threads", value)
    proxy.reset()
    barrier = threading.Barrier(100)
    results: list[Any] = []
    context = contextvars.copy_context()  # Prefect's settings live in context variables

    def work() -> None:
        barrier.wait()
        results.append(Secret("HUNDRED_THREADS").get())

    threads = [threading.Thread(target=context.copy().run, args=(work,)) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [value] * 100
    assert proxy.total() == 1


async def test_100_concurrent_agets_share_one_request(
    proxy: CountingProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    value = fake("agets")
    save_block("hundred-agets", value)
    proxy.reset()
    results = await asyncio.gather(*(Secret("HUNDRED_AGETS").aget() for _ in range(100)))
    assert results == [value] * 100
    assert proxy.total() == 1


async def test_a_cancelled_waiter_does_not_cancel_the_others(
    proxy: CountingProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    value = fake("cancel")
    save_block("cancel-one", value)
    tasks = [asyncio.create_task(Secret("CANCEL_ONE").aget()) for _ in range(5)]
    await asyncio.sleep(0)  # all five join the flight
    tasks[0].cancel()
    results = await asyncio.gather(*tasks[1:])
    assert results == [value] * 4


def test_values_are_never_written_to_disk(
    server: PrefectServer,
    save_block: Callable[[str, Any], None],
    home: Any,
    fake: Callable[[str], str],
) -> None:
    """Cached answers live in memory only: no file under HOME or PREFECT_HOME holds one."""
    import os
    from pathlib import Path

    value = fake("memory-only")
    save_block("memory-only", value)
    for _ in range(3):
        assert Secret("MEMORY_ONLY").get() == value
    roots = [Path(home), Path(os.environ["PREFECT_HOME"])]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert value.encode() not in path.read_bytes(), path
