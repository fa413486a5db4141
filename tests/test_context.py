"""In-process secrets: `context.secrets` (process-wide) and `secrets_context` (per thread/task)."""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Callable

import pytest

from prefect_secrets import Secret, SecretNotFound, context, secrets_context


def test_context_secrets_is_a_process_wide_mapping(fake: Callable[[str], str]) -> None:
    value = fake("ctx")
    context.secrets["API_KEY"] = value
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(Secret("API_KEY").get()))
    thread.start()
    thread.join()
    assert seen == [value]
    del context.secrets["API_KEY"]
    assert not Secret("API_KEY").exists()


def test_context_secrets_can_be_replaced_whole(fake: Callable[[str], str]) -> None:
    """`context.secrets = {...}`, as Prefect 1 users wrote, replaces the contents."""
    held = context.secrets
    context.secrets = {"A": fake("a")}
    assert held is context.secrets
    assert list(context.secrets) == ["A"]


def test_context_secrets_refuses_invalid_names() -> None:
    with pytest.raises(ValueError, match="names are 1-255"):
        context.secrets["not valid"] = "fake"


def test_reprs_show_names_never_values(fake: Callable[[str], str]) -> None:
    value = fake("repr")
    context.secrets["SHOWN_NAME"] = value
    manager = secrets_context(OTHER=value)
    for text in (repr(context.secrets), str(context.secrets), repr(context), repr(manager)):
        assert value not in text
    assert "SHOWN_NAME" in repr(context.secrets)
    assert "OTHER" in repr(manager)


def test_context_secrets_cannot_be_pickled(fake: Callable[[str], str]) -> None:
    """Pickling would write the values wherever the pickle goes."""
    context.secrets["A"] = fake("pickle")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(context.secrets)


def test_secrets_context_overrides_and_restores(fake: Callable[[str], str]) -> None:
    outer, inner = fake("outer"), fake("inner")
    context.secrets["DB"] = outer
    with secrets_context(DB=inner):
        assert Secret("DB").get() == inner
    assert Secret("DB").get() == outer


def test_secrets_context_restores_when_the_body_raises(fake: Callable[[str], str]) -> None:
    with pytest.raises(RuntimeError), secrets_context(DB=fake("db")):
        raise RuntimeError("boom")
    with pytest.raises(SecretNotFound):
        Secret("DB").get()


def test_nested_secrets_contexts_add_up(fake: Callable[[str], str]) -> None:
    a, b, b2 = fake("a"), fake("b"), fake("b2")
    with secrets_context(A=a, B=b):
        with secrets_context(B=b2):
            assert (Secret("A").get(), Secret("B").get()) == (a, b2)
        assert Secret("B").get() == b


def test_secrets_context_takes_names_that_are_not_identifiers(fake: Callable[[str], str]) -> None:
    value = fake("dash")
    with secrets_context({"db-password": value}):
        assert Secret("db-password").get() == value


def test_secrets_context_refuses_invalid_names() -> None:
    with pytest.raises(ValueError, match="names are 1-255"):
        secrets_context({"bad name": "fake"})


def test_threads_never_see_each_others_overrides(fake: Callable[[str], str]) -> None:
    """Each of 8 threads overrides the same name; each reads only its own value."""
    values = [fake(f"thread{i}") for i in range(8)]
    barrier = threading.Barrier(len(values))
    results: dict[int, object] = {}

    def work(index: int) -> None:
        with secrets_context(SHARED=values[index]):
            barrier.wait()  # every thread is inside its block at the same time
            results[index] = Secret("SHARED").get()
            barrier.wait()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(values))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == dict(enumerate(values))
    assert not Secret("SHARED").exists()


async def test_asyncio_tasks_never_see_each_others_overrides(fake: Callable[[str], str]) -> None:
    values = [fake(f"task{i}") for i in range(8)]
    started = asyncio.Event()
    inside = 0

    async def work(value: str) -> object:
        nonlocal inside
        async with secrets_context(SHARED=value):
            inside += 1
            if inside == len(values):
                started.set()
            await started.wait()  # all tasks hold an override at once
            return await Secret("SHARED").aget()

    results = await asyncio.gather(*(work(v) for v in values))
    assert results == values
    assert not await Secret("SHARED").aexists()


async def test_a_task_created_inside_a_block_inherits_its_overrides(
    fake: Callable[[str], str],
) -> None:
    """asyncio copies the context into new tasks, as structlog's contextvars do."""
    value = fake("inherited")
    with secrets_context(PARENT=value):
        child = asyncio.create_task(Secret("PARENT").aget())
    assert await child == value
