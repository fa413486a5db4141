"""The sync lookup loops are generated from the async ones, so the two cannot drift."""

from __future__ import annotations

from tests.support.unasync import ASYNC_SOURCE, SYNC_TARGET, generate


def test_the_sync_loops_are_the_generated_copy_of_the_async_ones() -> None:
    """Edit `_resolution/_async.py`, then run `python -m tests.support.unasync`."""
    expected = generate(ASYNC_SOURCE.read_text(encoding="utf-8"))
    assert SYNC_TARGET.read_text(encoding="utf-8") == expected, (
        "prefect_secrets/_resolution/_sync.py is stale: run `python -m tests.support.unasync`"
    )


def test_the_generated_loops_have_no_async_left() -> None:
    generated = SYNC_TARGET.read_text(encoding="utf-8")
    for word in ("async ", "await ", "alookup", "aresolve"):
        assert word not in generated
