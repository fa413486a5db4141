"""The in-memory cache of remote stores' answers: values and "no such secret" alike.

Each remote source keeps one `AnswerCache` (the Prefect server's is
`_server.cache.server_answers`, so that its writers invalidate it without
importing the source).

- Only in memory, never on disk; its repr shows counts, never values.
- Each answer is reused for `cache_ttl` seconds (a miss for `cache_miss_ttl`),
  read from the settings at each lookup, so turning the TTL to 0 takes effect
  at once; a TTL of 0 also means the answer is not stored at all.
- `invalidate()` drops entries when this library writes or deletes a block.
  A fetch that started before an invalidation does not store its (possibly
  stale) answer: every invalidation bumps a generation number, and `put`
  only stores answers fetched in the current generation.
- Thread-safe: a lock guards every change; reads of a dict entry are atomic.
"""

from __future__ import annotations

import time
from _thread import allocate_lock

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.missing import MISSING

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any

__all__ = ["NOT_CACHED", "AnswerCache"]


class _NotCached:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_CACHED"


#: `AnswerCache.get` found nothing usable (unlike MISSING: "the server has no such block").
NOT_CACHED = _NotCached()

_MAX_ENTRIES = 10_000


class AnswerCache:
    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = allocate_lock()
        self.generation = 0

    def get(self, key: Hashable, ttl: float, miss_ttl: float) -> Any:
        """The cached answer (a value, or MISSING) if still fresh, else NOT_CACHED."""
        entry = self._entries.get(key)
        if entry is None:
            return NOT_CACHED
        read_at, answer = entry
        if time.monotonic() - read_at < (miss_ttl if answer is MISSING else ttl):
            return answer
        return NOT_CACHED

    def put(self, key: Hashable, answer: Any, generation: int, ttl: float, miss_ttl: float) -> None:
        """Store `answer`, unless an invalidation happened since it was fetched or its TTL is 0."""
        if (miss_ttl if answer is MISSING else ttl) <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            self._entries.pop(key, None)  # re-insert at the end: eviction drops the oldest
            self._entries[key] = (time.monotonic(), answer)
            if len(self._entries) > _MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]

    def invalidate(self, matches: Callable[[Hashable], bool] | None = None) -> None:
        """Drop entries whose key `matches` (all when None); fetches in flight will not store."""
        with self._lock:
            self.generation += 1
            if matches is None:
                self._entries.clear()
            else:
                for key in [k for k in self._entries if matches(k)]:
                    del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"AnswerCache(entries={len(self._entries)})"
