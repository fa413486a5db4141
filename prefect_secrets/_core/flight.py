"""Single-flight with a total deadline: concurrent lookups of one key share one request,
and no caller waits longer than its deadline for it.

Sync callers in many threads and async callers in many tasks (and event loops)
wait on the same `concurrent.futures.Future`. The work runs on a small thread
pool, in the context of the caller that started it (Prefect's settings live in
context variables), so that one connection pool serves sync and async code alike,
no event loop owns it, and a caller can stop waiting: a server that trickles its
answer byte by byte, never slower than a read timeout, is bounded per read by the
client library but not in total. At the deadline the caller gets
`FlightTimeout`; the work goes on in the background and its answer, if it comes,
is cached for the next lookup.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

__all__ = ["FlightTimeout", "SingleFlight"]


class FlightTimeout(Exception):
    """The shared request did not finish within the caller's deadline."""


class SingleFlight:
    def __init__(self, *, max_workers: int = 16) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Future[Any]] = {}
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None

    def _join(self, key: Hashable, work: Callable[[], Any]) -> Future[Any]:
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                return flight
            flight = self._flights[key] = Future()
            # Running futures cannot be cancelled: one async waiter being
            # cancelled must not cancel the flight for everyone else.
            flight.set_running_or_notify_cancel()
        context = contextvars.copy_context()
        self._pool().submit(context.run, self._fly, key, flight, work)
        return flight

    def _fly(self, key: Hashable, flight: Future[Any], work: Callable[[], Any]) -> None:
        try:
            flight.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            flight.set_exception(exc)
        finally:
            with self._lock:
                del self._flights[key]

    def run(self, key: Hashable, work: Callable[[], Any], deadline: float | None = None) -> Any:
        """`work()`, or the result of the call already running for `key`; `FlightTimeout`
        after `deadline` seconds."""
        try:
            return self._join(key, work).result(deadline)
        except FutureTimeout:
            raise FlightTimeout from None

    async def arun(
        self, key: Hashable, work: Callable[[], Any], deadline: float | None = None
    ) -> Any:
        """`run` for async callers: the event loop waits without blocking."""
        import asyncio

        try:
            return await asyncio.wait_for(asyncio.wrap_future(self._join(key, work)), deadline)
        except TimeoutError:
            raise FlightTimeout from None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self._max_workers, thread_name_prefix="prefect-secrets"
                    )
        return self._executor
