"""with_secrets: secrets in a task's env vars or private files, restored or removed afterwards."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prefect_secrets import (
    Secret,
    SecretInjectionError,
    SecretNotFound,
    context,
    secrets_context,
    with_secrets,
)


def test_a_secret_goes_into_the_env_var_of_its_name_and_back_out(
    fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    value = fake("api")
    context.secrets["API_KEY"] = value
    monkeypatch.delenv("API_KEY", raising=False)
    with with_secrets("API_KEY") as injection:
        assert os.environ["API_KEY"] == value
        assert injection.env_vars == ["API_KEY"]
        assert value not in repr(injection)
    assert "API_KEY" not in os.environ


def test_a_previous_value_is_restored(
    fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    context.secrets["API_KEY"] = fake("api")
    monkeypatch.setenv("SERVICE_API_KEY", "fake-before")
    with with_secrets(Secret("API_KEY", as_env_var="SERVICE_API_KEY")):
        assert os.environ["SERVICE_API_KEY"] == context.secrets["API_KEY"]
    assert os.environ["SERVICE_API_KEY"] == "fake-before"


def test_everything_is_undone_when_the_body_raises(
    fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    context.secrets["A"] = fake("a")
    context.secrets["B"] = fake("b")
    monkeypatch.delenv("A", raising=False)
    paths: dict[str, str] = {}

    def body() -> None:
        with with_secrets("A", Secret("B", as_file=True)) as injection:
            paths.update(injection.files)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        body()
    assert "A" not in os.environ
    assert "B" not in os.environ
    assert not Path(paths["B"]).exists()
    assert not Path(paths["B"]).parent.exists()


def test_a_missing_secret_changes_nothing(
    fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything is resolved before anything is set."""
    context.secrets["PRESENT"] = fake("present")
    monkeypatch.delenv("PRESENT", raising=False)
    with pytest.raises(SecretNotFound), with_secrets("PRESENT", "ABSENT"):
        pass
    assert "PRESENT" not in os.environ


def test_as_file_writes_a_private_file_and_sets_its_path(fake: Callable[[str], str]) -> None:
    # A fake "type": a registered value lives as long as the process, and the real one
    # ("service_account") would be masked in every later test's text (the k8s templates'
    # `service_account_name`, which test_job_variables stores on the server).
    creds = {"type": fake("type"), "private_key": fake("key")}
    context.secrets["GCP_KEY_JSON"] = creds
    with with_secrets(Secret("GCP_KEY_JSON", as_file=True)) as injection:
        path = Path(os.environ["GCP_KEY_JSON"])
        assert injection.files == {"GCP_KEY_JSON": str(path)}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        import json

        assert json.loads(path.read_text()) == creds
    assert not path.exists()
    assert not path.parent.exists()


def test_a_child_process_sees_the_injected_values(fake: Callable[[str], str]) -> None:
    """The point of env injection: CLIs and libraries that read env vars or files."""
    value, file_value = fake("child"), fake("child-file")
    context.secrets["CHILD_TOKEN"] = value
    context.secrets["CHILD_CERT"] = file_value
    code = (
        "import os\n"
        "token = os.environ['CHILD_TOKEN']\n"
        "cert = open(os.environ['CERT_PATH']).read()\n"
        f"print(token == {value!r}, cert == {file_value!r})\n"
    )
    with with_secrets("CHILD_TOKEN", Secret("CHILD_CERT", as_file=True, as_env_var="CERT_PATH")):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["True", "True"]


def test_non_string_values_are_injected_as_json(fake: Callable[[str], str]) -> None:
    context.secrets["PORT"] = 5432
    context.secrets["CREDS"] = {"user": "etl", "password": fake("pw")}
    with with_secrets("PORT", "CREDS"):
        assert os.environ["PORT"] == "5432"
        assert '"user":"etl"' in os.environ["CREDS"]


def test_as_a_decorator_on_sync_and_async_functions(fake: Callable[[str], str]) -> None:
    value = fake("decorated")
    context.secrets["DECORATED"] = value

    @with_secrets("DECORATED")
    def sync_body() -> str | None:
        return os.environ.get("DECORATED")

    @with_secrets("DECORATED")
    async def async_body() -> str | None:
        await asyncio.sleep(0)
        return os.environ.get("DECORATED")

    assert sync_body() == value
    assert asyncio.run(async_body()) == value
    assert "DECORATED" not in os.environ
    assert sync_body.__name__ == "sync_body"


def test_two_targets_for_one_env_var_are_refused() -> None:
    with pytest.raises(ValueError, match="injected into env var X"):
        with_secrets(Secret("A", as_env_var="X"), Secret("B", as_env_var="X"))


def test_invalid_env_var_names_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid as_env_var"):
        Secret("A", as_env_var="NOT-VALID")


def test_threads_injecting_different_values_into_one_var_are_stopped(
    fake: Callable[[str], str],
) -> None:
    """Env vars are process-wide: the second thread gets an error, not the first one's value."""
    first_in = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with secrets_context(SHARED=fake("first")), with_secrets("SHARED"):
            first_in.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    try:
        with secrets_context(SHARED=fake("second")), with_secrets("SHARED"):
            pass
    except SecretInjectionError as exc:
        errors.append(exc)
    finally:
        release.set()
        thread.join()
    assert len(errors) == 1
    assert "ProcessPoolTaskRunner" in str(errors[0])
    assert "SHARED" not in os.environ


def test_threads_injecting_the_same_value_share_it(fake: Callable[[str], str]) -> None:
    value = fake("same")
    context.secrets["SAME"] = value
    inside = threading.Barrier(4)
    seen: list[str | None] = []

    def work() -> None:
        with with_secrets("SAME"):
            inside.wait(10)  # all four hold it at once
            seen.append(os.environ.get("SAME"))
            inside.wait(10)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [value] * 4
    assert "SAME" not in os.environ


async def test_async_tasks_injecting_different_values_are_stopped(
    fake: Callable[[str], str],
) -> None:
    entered = asyncio.Event()

    async def holder() -> None:
        with secrets_context(ASYNC_SHARED=fake("a")):
            async with with_secrets("ASYNC_SHARED"):
                entered.set()
                await asyncio.sleep(0.05)

    async def intruder() -> None:
        await entered.wait()
        with secrets_context(ASYNC_SHARED=fake("b")):
            async with with_secrets("ASYNC_SHARED"):
                pass

    results = await asyncio.gather(holder(), intruder(), return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], SecretInjectionError)


def test_nested_overrides_in_one_thread_unwind_in_order(fake: Callable[[str], str]) -> None:
    outer, inner = fake("outer"), fake("inner")
    with secrets_context(NESTED=outer), with_secrets("NESTED"):
        with secrets_context(NESTED=inner), with_secrets("NESTED"):
            assert os.environ["NESTED"] == inner
        assert os.environ["NESTED"] == outer
    assert "NESTED" not in os.environ


def test_prefect_tasks_get_their_secrets_injected(
    server: Any, fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of decorating a task; injected values are visible inside, gone after."""
    from prefect import flow, task

    value = fake("task")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__TASK_TOKEN", value)

    @task
    @with_secrets(Secret("TASK_TOKEN", as_env_var="SERVICE_TOKEN"))
    def decorated_inside() -> bool:
        return os.environ.get("SERVICE_TOKEN") == value

    @task
    def plain() -> bool:
        return os.environ.get("SERVICE_TOKEN") == value

    wrapped_task = with_secrets(Secret("TASK_TOKEN", as_env_var="SERVICE_TOKEN"))(plain)

    @flow
    def run_both() -> tuple[bool, bool, bool]:
        return decorated_inside(), wrapped_task(), plain()

    assert run_both() == (True, True, False)
    assert "SERVICE_TOKEN" not in os.environ


def test_a_wrapped_task_never_answers_for_the_plain_one_from_its_cache(
    server: Any, fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Persisted results are a cache: the same task with and without a secret injected
    has the same source and inputs, so without its own key the plain call would get the
    result computed with the secret. The wrapped task still caches its own results."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    value = fake("cached")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__CACHED_TOKEN", value)
    calls: list[str] = []

    @task(persist_result=True)
    def sees_token(tag: str) -> bool:
        calls.append(tag)
        return os.environ.get("SERVICE_TOKEN") == value

    injected = with_secrets(Secret("CACHED_TOKEN", as_env_var="SERVICE_TOKEN"))(sees_token)
    elsewhere = with_secrets(Secret("CACHED_TOKEN", as_env_var="OTHER_TOKEN"))(sees_token)
    uncached = with_secrets(Secret("CACHED_TOKEN", as_env_var="SERVICE_TOKEN"))(
        sees_token.with_options(cache_policy=NO_CACHE)
    )

    @flow
    def in_one_run() -> tuple[bool, ...]:
        return (
            injected("same"),
            sees_token("same"),
            injected("same"),
            elsewhere("same"),
            uncached("same"),
        )

    assert in_one_run() == (True, False, True, False, True)
    assert calls == ["same"] * 4  # the second injected call came from its cache
    assert uncached.cache_policy == NO_CACHE
