"""A task that `with_secrets` wraps caches apart from the task it wraps.

`with_secrets(...)(task)` is a copy of `task` whose function runs with secrets in its
environment. Prefect's cache key comes from the task's source, its inputs and the run,
and the copy has the same ones (`functools.wraps` keeps the source), so a cached or
persisted result of one answered the other: `plain()` after `injected()` in one flow
run got the result computed *with* the secret (Prefect 3.4 does it by default, later
releases as soon as results are persisted). The copy's key therefore also holds the
names of the secrets injected and where they go, never their values (a hash of a value
stored as a cache key could be guessed offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import NO_CACHE, CachePolicy
from prefect.utilities.hashing import hash_objects

__all__ = ["InjectedSecrets", "cache_apart"]


@dataclass
class InjectedSecrets(CachePolicy):
    """The part of a wrapped task's cache key that says which secrets it runs with."""

    injected: tuple[str, ...] = ()

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any] | None,
        flow_parameters: dict[str, Any] | None,
        **kwargs: Any,
    ) -> str | None:
        return hash_objects("prefect-secrets.with_secrets", self.injected, raise_on_failure=True)


def cache_apart(task: Any, injected: tuple[str, ...]) -> None:
    """Add `injected` to `task`'s cache key, in place. A task that does not cache
    (`NO_CACHE`, or a fixed `result_storage_key`: the user's own choice) stays as it is."""
    policy = task.cache_policy
    if isinstance(policy, CachePolicy) and not isinstance(policy, type(NO_CACHE)):
        task.cache_policy = policy + InjectedSecrets(injected=injected)
