"""`SecretTask` and `SecretsTask`, run by real Prefect flows against the session's real server.

Checks are computed into booleans before asserting, so that a failure never
prints a value.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import INPUTS, NO_CACHE

from prefect_secrets import (
    SecretNotFound,
    SecretSourceError,
    SecretsTask,
    SecretTask,
    context,
)
from prefect_secrets._masking.registry import MASK, redact
from prefect_secrets._prefect.task import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_SECONDS
from tests.support.leak_scan import files_under, occurrences
from tests.support.servers import PrefectServer

# Prefect 3.8.8 opens a sync API client in every flow run to read the server's
# default result storage (`prefect.results._read_server_default_result_storage_block_id`)
# and never closes it; its socket is reported when garbage-collected. Collect
# it here, after each test, rather than in whichever test happens to run next.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(autouse=True)
def _collect_prefects_unclosed_clients(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:  # the tests that run flows
        gc.collect()


@pytest.fixture
def secret_env(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> Callable[[str], tuple[str, str]]:
    """Put a fresh secret in an env var, as deployments do: returns (name, value)."""

    def make(label: str = "value") -> tuple[str, str]:
        name, value = unique_name("TASK"), fake(label)
        monkeypatch.setenv(f"PREFECT__CONTEXT__SECRETS__{name}", value)
        return name, value

    return make


@task
def same_as(value: Any, expected: Any) -> bool:
    """A downstream task: did it receive the real value?"""
    return bool(value == expected)


# --- construction and calls, no flow needed ----------------------------------------------------


def test_a_name_is_required_at_construction_or_call() -> None:
    for call in (
        lambda: SecretTask()(),
        lambda: SecretTask().submit(),
        lambda: SecretTask().map(name=["A", None]),
        lambda: SecretsTask()(),
    ):
        with pytest.raises(ValueError, match=r"needs (a )?secret names?"):
            call()


def test_invalid_names_are_refused_with_the_rule() -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        SecretTask("not a name")
    with pytest.raises(ValueError, match="letters, digits"):
        SecretTask()(name="also/not")
    with pytest.raises(TypeError, match="list of names"):
        SecretsTask("ONE_NAME")


REFUSED: dict[str, Any] = {
    "result_storage": "local-file-system/results",
    "result_serializer": "json",
    "result_storage_key": "{parameters[name]}",
    "cache_key_fn": lambda context, parameters: "key",
    "cache_expiration": datetime.timedelta(hours=1),
    "refresh_cache": True,
    "persist_result": True,
    "cache_policy": INPUTS,
    "cache_result_in_memory": False,
    "task_run_name": "{default}",
    "retry_condition_fn": lambda task, run, state: True,
}


@pytest.mark.parametrize("option", sorted(REFUSED))
def test_options_that_would_persist_cache_or_rename_are_refused(option: str) -> None:
    with pytest.raises(ValueError, match=f"does not accept {option}"):
        SecretTask("X", **{option: REFUSED[option]})
    with pytest.raises(ValueError, match=f"does not accept {option}"):
        SecretTask("X").with_options(**{option: REFUSED[option]})
    with pytest.raises(ValueError, match=f"does not accept {option}"):
        SecretsTask(["X"], **{option: REFUSED[option]})


def test_it_cannot_be_deferred_to_a_background_worker() -> None:
    for defer in (
        lambda: SecretTask("X").delay(),
        lambda: SecretTask("X").apply_async(),
        lambda: SecretTask().map(name=["X"], deferred=True),
    ):
        with pytest.raises(TypeError, match="background"):
            defer()


def test_the_result_is_never_persisted_or_cached_and_source_errors_are_retried() -> None:
    secret_task = SecretTask("X", tags=["etl"], timeout_seconds=30, persist_result=False)
    copies = [secret_task, secret_task.with_options(retries=5, name="Y")]
    for each in copies:
        assert isinstance(each, SecretTask)
        assert each.cache_policy is NO_CACHE
        assert each.persist_result is False
        assert each.cache_result_in_memory is True
        assert each.result_storage is None
        assert each.result_serializer is None
        assert each.result_storage_key is None
        assert each.cache_key_fn is None
        assert each.tags == {"etl"}
        assert each.timeout_seconds == 30
    assert secret_task.retries == DEFAULT_RETRIES == 2
    assert secret_task.retry_delay_seconds == DEFAULT_RETRY_DELAY_SECONDS
    assert copies[1].retries == 5
    assert copies[1].secret_name == "Y"


def test_default_and_cast(
    secret_env: Callable[[str], tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task's function, without Prefect: the logic that runs inside the task."""
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__TASK_PORT", "8443")
    assert SecretTask("TASK_PORT").fn() == 8443
    assert SecretTask("TASK_PORT", raw=True).fn() == "8443"
    assert SecretTask("TASK_PORT", raw=True, cast=float).fn() == 8443.0
    assert SecretTask("TASK_MISSING", default=None).fn() is None
    assert SecretTask("TASK_MISSING").fn(default="fallback") == "fallback"
    assert SecretTask("TASK_MISSING", cast=int).fn(default="x") == "x"  # defaults are not cast
    with pytest.raises(SecretNotFound, match="TASK_MISSING"):
        SecretTask("TASK_MISSING").fn()


def test_a_failed_cast_names_the_secret_never_the_value(
    secret_env: Callable[[str], tuple[str, str]],
) -> None:
    name, value = secret_env("not-a-number")
    with pytest.raises(ValueError, match=f"secret '{name}': cast=int failed") as caught:
        SecretTask(name, cast=int).fn()
    shown = str(caught.value)
    leaked = value in shown or caught.value.__cause__ is not None
    assert not leaked
    assert caught.value.__suppress_context__


def test_a_cast_result_is_masked_too(secret_env: Callable[[str], tuple[str, str]]) -> None:
    name, _ = secret_env("padded")
    stripped = SecretTask(name, cast=lambda v: v.upper()).fn()
    as_expected = redact(f"x {stripped} y") == f"x {MASK} y"
    assert as_expected


# --- in flows ------------------------------------------------------------------------------------


def test_in_a_sync_flow_downstream_tasks_get_the_real_values(
    server: PrefectServer,
    secret_env: Callable[[str], tuple[str, str]],
    fake: Callable[[str], str],
) -> None:
    token_name, token = secret_env("token")
    creds = {"user": fake("user"), "password": fake("password")}
    context.secrets["TASK_CREDS"] = creds

    @flow
    def etl() -> list[bool]:
        value = SecretTask(token_name)()
        named_at_call = SecretTask()(name="TASK_CREDS")
        submitted = SecretTask(token_name).submit()
        many = SecretsTask([token_name, "TASK_CREDS"])()
        return [
            same_as(value, token),
            same_as(named_at_call, creds),
            same_as(submitted, token),  # a future, resolved by Prefect for the downstream task
            same_as(many, {token_name: token, "TASK_CREDS": creds}),
        ]

    assert etl() == [True, True, True, True]


async def test_in_an_async_flow_with_submit_and_map(
    server: PrefectServer, secret_env: Callable[[str], tuple[str, str]]
) -> None:
    (name_a, a), (name_b, b) = secret_env("a"), secret_env("b")

    @flow
    async def etl() -> list[Any]:
        direct = SecretTask(name_a)()  # a sync task: its value, no await
        submitted = SecretTask(name_b).submit().result()
        mapped = SecretTask().map(name=[name_a, name_b]).result()
        await asyncio.sleep(0)
        return [direct == a, submitted == b, mapped == [a, b]]

    assert await etl() == [True, True, True]


def test_the_task_run_is_named_after_the_secret_never_its_value(
    server: PrefectServer, secret_env: Callable[[str], tuple[str, str]]
) -> None:
    name, value = secret_env("named")

    @flow
    def etl() -> list[str]:
        runs = [SecretTask(name).submit(), SecretTask().submit(name=name)]
        runs += SecretTask().map(name=[name])
        for run in runs:
            run.wait()
        return [str(run.task_run_id) for run in runs]

    names = [_task_run_name(server, run_id) for run_id in etl()]
    # Shown with the value blanked out, so that a failure says what the names were
    # without printing a secret.
    shown = [n.replace(value, "<the value>") for n in names]
    assert shown == [f"secret-{name}"] * 3


def _task_run_name(server: PrefectServer, task_run_id: str) -> str:
    """The name the UI shows once the run is over.

    Task runs reach the server as events, one per state: the Pending one creates
    the run under Prefect's provisional name (`secret-<key>`), and the run is
    renamed when it starts. Read the name only once the Completed event is in."""
    import httpx

    deadline = time.monotonic() + 90  # returns as soon as it is there; CI machines can be slow
    seen = "nothing"
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.api_url}/task_runs/{task_run_id}", timeout=10)
        if response.status_code == 200:
            task_run = response.json()
            seen = f"state {task_run['state_type']}"
            if task_run["state_type"] == "COMPLETED":
                return str(task_run["name"])
        time.sleep(0.2)
    raise AssertionError(f"task run {task_run_id} did not complete on the server: {seen}")


@contextmanager
def attempts_of_task_runs(
    before_retry: Callable[[int], None] | None = None,
) -> Iterator[list[int]]:
    """The attempts of the task runs inside the block: 1, then N + 1 for each of Prefect's
    "Task run failed with ... - Retry N/M will start" records (logger `prefect.task_runs`,
    the same text in 3.0-3.9), logged by the engine before it retries; `before_retry(N + 1)`
    runs then, before attempt N + 1 starts. (Task `on_running` hooks would do, but tasks
    take them only from Prefect 3.5.0.)"""
    attempts = [1]
    retry = re.compile(r"^Task run failed with .* - Retry (\d+)/\d+ will start", re.DOTALL)

    class RetryWatcher(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found = retry.match(record.getMessage())
            if found:
                attempts.append(int(found.group(1)) + 1)
                if before_retry is not None:
                    before_retry(attempts[-1])

    logger = logging.getLogger("prefect.task_runs")
    watcher = RetryWatcher(logging.INFO)
    logger.addHandler(watcher)
    try:
        yield attempts
    finally:
        logger.removeHandler(watcher)


def test_a_failing_source_is_retried_until_it_recovers(
    server: PrefectServer, write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    """A malformed config file is a SecretSourceError: retried. The hook repairs the file
    before the retry, as an operator (or a redeploy) would."""
    value = fake("recovered")
    config = write_config("[context.secrets]\nTASK_LATE = \n")  # not valid TOML

    def repair_before_retry(attempt: int) -> None:
        if attempt == 2:
            write_config(f'[context.secrets]\nTASK_LATE = "{value}"\n', path=config)

    secret_task = SecretTask("TASK_LATE", retry_delay_seconds=0)

    @flow
    def etl() -> bool:
        return same_as(secret_task(), value)

    with attempts_of_task_runs(repair_before_retry) as attempts:
        assert etl() is True
    assert attempts == [1, 2]


def test_a_missing_secret_is_not_retried(server: PrefectServer) -> None:
    secret_task = SecretTask("TASK_NOWHERE", retries=3, retry_delay_seconds=0)

    @flow
    def etl() -> str:
        try:
            secret_task()
        except SecretNotFound as exc:
            return exc.name
        return "no error"

    with attempts_of_task_runs() as attempts:
        assert etl() == "TASK_NOWHERE"
    assert attempts == [1]


def test_a_source_that_stays_broken_fails_after_the_retries(
    server: PrefectServer, write_config: Callable[..., Path]
) -> None:
    write_config("[context.secrets\n")
    secret_task = SecretTask("TASK_BROKEN", retries=1, retry_delay_seconds=0)

    @flow
    def etl() -> str:
        try:
            secret_task()
        except SecretSourceError as exc:
            return str(exc)
        return "no error"

    with attempts_of_task_runs() as attempts:
        assert "is not valid TOML" in etl()
    assert attempts == [1, 2]


def test_nothing_is_written_to_result_storage_even_when_persisting_is_the_default(
    server: PrefectServer,
    secret_env: Callable[[str], tuple[str, str]],
    fake: Callable[[str], str],
    tmp_path: Path,
) -> None:
    from prefect.settings import (
        PREFECT_LOCAL_STORAGE_PATH,
        PREFECT_RESULTS_PERSIST_BY_DEFAULT,
        temporary_settings,
    )

    name, value = secret_env("persisted")
    ordinary = fake("ordinary-result")
    storage = tmp_path / "storage"

    @task
    def ordinary_task() -> str:
        return ordinary

    @flow(persist_result=True)
    def etl() -> bool:
        secret = SecretTask(name)()
        ordinary_task()
        return same_as(secret, value)

    updates = {PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOCAL_STORAGE_PATH: storage}
    with temporary_settings(updates=updates):
        assert etl() is True
    stored = [path.read_bytes() for path in files_under(storage)]
    # Persisting did happen (the ordinary task's result is there)...
    assert sum(occurrences(data, [ordinary]) for data in stored) > 0
    # ...but not for the secret.
    assert sum(occurrences(data, [value]) for data in stored) == 0


def test_secret_tasks_take_a_scope(server: object, write_config: Callable[..., Path]) -> None:
    """SecretTask(name, project=..., domain=...) resolves as Secret(name, project, domain)."""
    from prefect import flow

    from prefect_secrets import SecretsTask, SecretTask

    write_config(
        '[context.secrets]\nDB = "fake-org-db"\n'
        '[project.etl.domain.prod.secrets]\nDB = "fake-etl-prod-db"\n'
    )

    @flow
    def scoped() -> tuple[object, object, object]:
        return (
            SecretTask("DB", project="etl", domain="prod")(),
            SecretTask("DB")(),
            SecretsTask(["DB"], project="etl", domain="prod")(),
        )

    assert scoped() == ("fake-etl-prod-db", "fake-org-db", {"DB": "fake-etl-prod-db"})
    with pytest.raises(ValueError, match="invalid project"):
        SecretTask("DB", project="Not Valid")
