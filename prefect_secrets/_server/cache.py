"""The Prefect server's answers, cached in memory (`AnswerCache`), and how writers drop them."""

from __future__ import annotations

from prefect_secrets._core.answers import NOT_CACHED, AnswerCache

__all__ = ["NOT_CACHED", "invalidate", "server_answers"]

#: The Prefect server's answers, keyed by (endpoint, block name).
server_answers = AnswerCache()


def invalidate(block: str | None = None) -> None:
    """Forget cached server answers for Secret block `block` (all blocks when None).

    Called after this library writes or deletes a block, so that the next
    lookup in this process sees the change at once.
    """
    if block is None:
        server_answers.invalidate()
    else:
        server_answers.invalidate(lambda cache_key: cache_key[1] == block)  # type: ignore[index]
