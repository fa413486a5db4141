"""Rotation pushed, not polled: the Prefect server's block events drop cached answers at once.

Every write of a block on a Prefect server emits `prefect.block-document.created`,
`.updated` or `.deleted` (resource name: the block's name) on its events websocket
(`/api/events/out`), whichever API replica took the write when the replicas share
Prefect's Redis messaging. A process that keeps server answers subscribes to them and
drops the cached answers of the block named, so a rotation is seen in well under a
second rather than after `cache_ttl`.

- Lazy: the subscription starts at the first *cached* answer a process reads from a
  server. A process that reads each secret once (a flow run that starts, resolves and
  exits: the common case in a fleet) never opens it.
- One daemon thread per Prefect API a process reads (usually one), idle in a websocket
  read between events; it does not keep the process alive.
- While it is not connected, answers expire by `cache_ttl` as without it: push only
  ever makes answers shorter-lived. On every (re)connection, the endpoint's cached
  answers are dropped, because events sent while it was away were missed.
- Reconnects with exponential backoff (0.5 s doubling to 30 s, with jitter).
- Turned off with the setting `push_invalidation = false`. Prefect Cloud is not
  subscribed to (untested here): its answers expire by `cache_ttl`.
- A server older than Prefect 3.7.4 emits no block events (`_server.release`): the
  subscriber asks the server's release first, and against such a server it ends without
  subscribing, says why once (log `prefect_secrets`, INFO; `push_off_reason`, `doctor`),
  and answers expire by `cache_ttl`.

Event payloads of Secret blocks carry no value (Prefect leaves secret fields out), and
nothing here logs an event.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
from contextlib import suppress

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._server.cache import server_answers
from prefect_secrets._server.release import block_events_missing, server_release

if TYPE_CHECKING:
    import asyncio

    from prefect.events.clients import PrefectEventSubscriber
    from prefect.events.schemas.events import Event

    from prefect_secrets._server.endpoint import Endpoint

__all__ = ["PUSH_THREAD_PREFIX", "push_off_reason", "push_status", "stop_watching", "watch"]

#: Names of the subscriber threads (`PUSH_THREAD_PREFIX` + the API URL).
PUSH_THREAD_PREFIX = "prefect-secrets-push "

_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 30.0
_EVENT_PREFIX = "prefect.block-document."
_logger = logging.getLogger("prefect_secrets")


class _Subscription:
    """The subscriber of one endpoint: its thread and whether it is connected."""

    def __init__(self, endpoint: Endpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.connected = threading.Event()
        self.connections = 0
        self.stopping = False
        #: Why this server cannot push (its release), once that is known; None otherwise.
        self.off_reason: str | None = None
        self.release_known = threading.Event()
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(
            target=self._run, name=PUSH_THREAD_PREFIX + endpoint.api_url, daemon=True
        )

    def _run(self) -> None:
        import asyncio

        with suppress(asyncio.CancelledError):
            asyncio.run(self._main())

    async def _main(self) -> None:
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        release = await asyncio.to_thread(server_release, self.endpoint, timeout=self.timeout)
        self.off_reason = block_events_missing(release)
        self.release_known.set()
        if self.off_reason is not None:
            _logger.info("rotation push off for %s: %s", self.endpoint, self.off_reason)
            return
        await self._subscribe_forever()

    def stop(self, wait: float = 5.0) -> None:
        """Cancel the subscriber and wait up to `wait` seconds for its thread to end."""
        deadline = time.monotonic() + wait
        self.stopping = True
        self._started.wait(wait)
        if self._loop is not None and self._task is not None:
            with suppress(RuntimeError):  # its loop has already ended
                self._loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(max(0.0, deadline - time.monotonic()))
        self.connected.clear()

    async def _subscribe_forever(self) -> None:
        import asyncio

        backoff = _FIRST_BACKOFF
        while not self.stopping:
            try:
                async with _subscriber(self.endpoint) as events:
                    self._on_connect()
                    backoff = _FIRST_BACKOFF
                    async for event in events:
                        self._on_event(event)
            except Exception:  # noqa: BLE001 - any failure: fall back to the TTL and retry
                pass
            self.connected.clear()
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _on_connect(self) -> None:
        # Events sent while no subscription was open are lost: what was cached then may be
        # stale, so it goes. Everything cached from here on is covered by the events.
        endpoint = self.endpoint
        server_answers.invalidate(lambda cache_key: cache_key[0] == endpoint)  # type: ignore[index]
        self.connections += 1
        self.connected.set()

    def _on_event(self, event: Event) -> None:
        if not event.event.startswith(_EVENT_PREFIX):
            return
        block = event.resource.get("prefect.resource.name")
        if not block:
            return
        endpoint = self.endpoint
        server_answers.invalidate(
            lambda cache_key: cache_key[0] == endpoint and cache_key[1] == block  # type: ignore[index]
        )


def _subscriber(endpoint: Endpoint) -> PrefectEventSubscriber:
    from prefect.events.clients import PrefectEventSubscriber
    from prefect.events.filters import EventFilter, EventNameFilter

    only_blocks = EventFilter(event=EventNameFilter(prefix=[_EVENT_PREFIX]))
    # No reconnection inside Prefect's subscriber: every reconnection must pass through
    # `_on_connect`, which drops what may have been missed meanwhile.
    return PrefectEventSubscriber(
        api_url=endpoint.api_url, filter=only_blocks, reconnection_attempts=0
    )


#: {endpoint: its subscription, or None where there is none to make (Cloud, temporary)}.
_subscriptions: dict[Endpoint, _Subscription | None] = {}
_lock = threading.Lock()


def watch(endpoint: Endpoint, *, timeout: float) -> None:
    """Start `endpoint`'s subscriber, once per process. Called on every cached server
    answer: a dict read when it runs already. `timeout` bounds the one request it makes
    (the server's release) before it subscribes."""
    if endpoint in _subscriptions:
        return
    with _lock:
        if endpoint in _subscriptions:
            return
        # Prefect's temporary server lives no longer than this process's lookups.
        wanted = not endpoint.temporary and not _is_cloud(endpoint.api_url)
        subscription = _subscriptions[endpoint] = (
            _Subscription(endpoint, timeout) if wanted else None
        )
    if subscription is not None:
        subscription.thread.start()


def stop_watching(wait: float = 5.0) -> None:
    """Stop every subscriber of this process, waiting up to `wait` seconds for each (they
    start again on the next cached answer)."""
    with _lock:
        subscriptions = [each for each in _subscriptions.values() if each is not None]
        _subscriptions.clear()
    for subscription in subscriptions:
        subscription.stop(wait)


def push_status(endpoint: Endpoint, *, wait: float = 0.0) -> tuple[bool, int]:
    """(connected now, connections made so far) of `endpoint`'s subscriber; waits up to
    `wait` seconds for it to connect. (False, 0) when it was never started."""
    subscription = _subscriptions.get(endpoint)
    if subscription is None:  # never started, or not to be
        return False, 0
    deadline = time.monotonic() + wait
    connected = subscription.connected.wait(max(0.0, deadline - time.monotonic()))
    return connected, subscription.connections


def push_off_reason(endpoint: Endpoint, *, wait: float = 0.0) -> str | None:
    """Why `endpoint`'s server cannot push rotations (its release), or None: it can, or
    nothing is known yet (waits up to `wait` seconds for the subscriber to find out)."""
    subscription = _subscriptions.get(endpoint)
    if subscription is None:
        return None
    subscription.release_known.wait(wait)
    return subscription.off_reason


def _is_cloud(api_url: str) -> bool:
    from prefect.settings import get_current_settings

    return api_url.startswith(str(get_current_settings().cloud.api_url))


def _stop_at_exit() -> None:
    # A daemon thread still importing or writing when the interpreter finalizes can abort
    # the process (SIGABRT: a lock on stderr held at shutdown). Stopping it first, before
    # finalization, lets a process that started a subscriber exit like any other.
    stop_watching(wait=2.0)


def _forget_after_fork() -> None:
    # A forked child has no subscriber thread: it starts its own when it needs one.
    global _lock
    _subscriptions.clear()
    _lock = threading.Lock()


atexit.register(_stop_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
