"""Single-flight: concurrent lookups of one key share one request.

Sync callers in many threads and async callers in many tasks (and event
loops) wait on the same `concurrent.futures.Future`; the first caller does
the work (async callers do it on a small thread pool, so that one HTTP
connection pool serves sync and async code alike and no event loop owns it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["SingleFlight"]


class SingleFlight:
    def __init__(self, *, max_workers: int = 16) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Future[Any]] = {}
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None

    def _join(self, key: Hashable) -> tuple[Future[Any], bool]:
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight, False
            flight = self._flights[key] = Future()
            # Running futures cannot be cancelled: one async waiter being
            # cancelled must not cancel the flight for everyone else.
            flight.set_running_or_notify_cancel()
            return flight, True

    def _fly(self, key: Hashable, flight: Future[Any], work: Callable[[], Any]) -> None:
        try:
            flight.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            flight.set_exception(exc)
        finally:
            with self._lock:
                del self._flights[key]

    def run(self, key: Hashable, work: Callable[[], Any]) -> Any:
        """`work()`, or the result of the call already running for `key`."""
        flight, leader = self._join(key)
        if leader:
            self._fly(key, flight, work)
        return flight.result()

    async def arun(self, key: Hashable, work: Callable[[], Any]) -> Any:
        """`run` for async callers; `work` runs on a worker thread."""
        import asyncio

        flight, leader = self._join(key)
        if leader:
            self._pool().submit(self._fly, key, flight, work)
        return await asyncio.wrap_future(flight)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self._max_workers, thread_name_prefix="prefect-secrets"
                    )
        return self._executor
