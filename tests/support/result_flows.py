"""The flows of tests/test_masking_results.py: every way Prefect persists a result, run in a
subprocess against a real server with its own PREFECT_HOME and HOME.

    python -m tests.support.result_flows SPEC.json

SPEC names the mode (`library`: values from `Secret(NAME).get()`, which registers them;
`plain`: read from the same env vars directly, as a flow without this library does: the
control), the pathways to run, each pathway's secret name (its value is in env var
`PREFECT__CONTEXT__SECRETS__<NAME>`), a marker that the non-secret results return, and
where to write the outcome as JSON: per pathway the final state's type, the exception
type, SHA-256 digests of what downstream code received, counts of task executions.
Nothing here prints or records a value.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import INPUTS

SPEC: dict[str, Any] = {}
OUTCOME: dict[str, dict[str, Any]] = {}
PATHWAYS: dict[str, Callable[[], Any]] = {}
EXECUTIONS: Counter[str] = Counter()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def value_of(pathway: str) -> str:
    """The pathway's secret, handed out by the library (library mode) or read as is."""
    name = SPEC["names"][pathway]
    if SPEC["mode"] == "library":
        from prefect_secrets import Secret

        return str(Secret(name).get())
    return os.environ[f"PREFECT__CONTEXT__SECRETS__{name}"]


def record(pathway: str, **facts: Any) -> None:
    OUTCOME.setdefault(pathway, {}).update(facts)


def pathway(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def register(run: Callable[[], Any]) -> Callable[[], Any]:
        PATHWAYS[name] = run
        return run

    return register


@task
def received(pathway: str, text: str) -> None:
    """Downstream: what the task got, as a digest (the test compares it to its own)."""
    record(pathway, received=digest(text))


@task(persist_result=True)
def clean_marker() -> str:
    """A result without a secret: must still be persisted (the guard is no off-switch)."""
    return str(SPEC["clean_marker"])


# --- task results ----------------------------------------------------------------------------


@task(persist_result=True)
def build_dsn(password: str) -> str:
    return f"postgresql://etl:{password}@db.example.invalid/wh"


@flow
def task_persist_flow() -> None:
    received("task_persist", build_dsn(value_of("task_persist")))
    clean_marker()


@pathway("task_persist")
def _task_persist() -> Any:
    return task_persist_flow(return_state=True)


@task(cache_policy=INPUTS)
def auth_headers(token: str) -> dict[str, str]:
    EXECUTIONS["auth_headers"] += 1
    return {"Authorization": f"Bearer {token}"}


@task(cache_policy=INPUTS)
def page_size(limit: int) -> int:
    EXECUTIONS["page_size"] += 1
    return limit * 10


@flow
def cache_inputs_flow() -> None:
    token = value_of("cache_inputs")
    for _ in range(2):  # the second call is a cache lookup
        received("cache_inputs", auth_headers(token)["Authorization"])
        page_size(7)
    record("cache_inputs", executions=dict(EXECUTIONS))


@pathway("cache_inputs")
def _cache_inputs() -> Any:
    return cache_inputs_flow(return_state=True)


@task(persist_result=True, result_serializer="json")
def connection_settings(password: str) -> dict[str, Any]:
    return {"dsn": f"postgresql://etl:{password}@db.example.invalid/wh", "pool_size": 5}


@flow
def json_serializer_flow() -> None:
    received("json_serializer", connection_settings(value_of("json_serializer"))["dsn"])


@pathway("json_serializer")
def _json_serializer() -> Any:
    return json_serializer_flow(return_state=True)


@task(persist_result=True, result_serializer="compressed/pickle")
def signing_material(key: str) -> dict[str, str]:
    return {"key": key, "algorithm": "RS256"}


@flow
def compressed_flow() -> None:
    received("compressed", signing_material(value_of("compressed"))["key"])


@pathway("compressed")
def _compressed() -> Any:
    return compressed_flow(return_state=True)


@task(persist_result=True)
async def fetch_token(token: str) -> str:
    return f"Bearer {token}"


@flow
async def async_task_flow() -> None:
    received("async_task", await fetch_token(value_of("async_task")))


@pathway("async_task")
def _async_task() -> Any:
    return asyncio.run(async_task_flow(return_state=True))


@task
def build_url(token: str) -> str:
    return f"https://api.example.invalid/v1?token={token}"


@flow
def persist_by_default_flow() -> None:
    # No persistence option: PREFECT_RESULTS_PERSIST_BY_DEFAULT=true turns it on.
    received("persist_by_default", build_url(value_of("persist_by_default")))
    clean_marker()


@pathway("persist_by_default")
def _persist_by_default() -> Any:
    return persist_by_default_flow(return_state=True)


@task(persist_result=True, result_storage_key="extract-{parameters[source_url]}")
def extract(source_url: str) -> int:
    return 1204  # the key alone holds the value


@flow
def storage_key_flow() -> None:
    url = f"https://exports.example.invalid/orders.csv?api_key={value_of('storage_key')}"
    record("storage_key", rows=extract(url))


@pathway("storage_key")
def _storage_key() -> Any:
    return storage_key_flow(return_state=True)


# --- flow results and exceptions -------------------------------------------------------------


@flow(persist_result=True)
def resolve_connections() -> dict[str, Any]:
    return {"warehouse": {"user": "etl", "password": value_of("flow_persist")}}


@pathway("flow_persist")
def _flow_persist() -> Any:
    state = resolve_connections(return_state=True)
    record("flow_persist", received=digest(state.result()["warehouse"]["password"]))
    return state


@task(persist_result=True)
def exchange_token(token: str) -> str:
    raise PermissionError(f"token exchange refused for {token}")


@flow
def failed_task_flow() -> None:
    state = exchange_token(value_of("failed_task"), return_state=True)
    record("failed_task", task_state=state.type.value)
    try:
        state.result()
    except PermissionError as exc:
        record("failed_task", received=digest(str(exc).rsplit(" ", 1)[1]))


@pathway("failed_task")
def _failed_task() -> Any:
    return failed_task_flow(return_state=True)


@flow
def warehouse_healthcheck() -> None:
    # No persistence option anywhere: Prefect persists a failed flow's exception.
    raise ConnectionError(f"cannot reach etl:{value_of('failed_flow')}@db.example.invalid")


@pathway("failed_flow")
def _failed_flow() -> Any:
    try:
        warehouse_healthcheck()
    except ConnectionError as exc:
        value = str(exc).split(":", 1)[1].split("@")[0]
        record("failed_flow", error="ConnectionError", received=digest(value))
        return None
    record("failed_flow", error=None)
    return None


# --- how Prefect reacts to a skipped write ---------------------------------------------------


@task(persist_result=True, retries=1, retry_delay_seconds=0)
def flaky_login(token: str) -> str:
    EXECUTIONS["flaky_login"] += 1
    if EXECUTIONS["flaky_login"] == 1:
        raise ConnectionError(f"login refused for {token}")
    return token


def _lock_manager() -> Any:
    from prefect.locking.filesystem import FileSystemLockManager

    return FileSystemLockManager(lock_files_directory=Path(os.environ["PREFECT_HOME"]) / "locks")


@task(cache_policy=INPUTS.configure(isolation_level="SERIALIZABLE", lock_manager=_lock_manager()))
def locked_headers(token: str) -> str:
    return token


@flow
def reactions_flow() -> str:
    """A retried task, a SERIALIZABLE cache lock, a user's transaction: each writes a
    record holding the value; each must go on as if persistence worked."""
    from prefect.runtime import flow_run
    from prefect.transactions import transaction

    token = value_of("reactions")
    with transaction(key=f"reactions-{flow_run.id}") as txn:
        txn.stage({"token": token})
    record(
        "reactions",
        retried=digest(flaky_login(token)),
        executions=EXECUTIONS["flaky_login"],
        locked=digest(locked_headers(token)),
        committed=txn.is_committed(),
    )
    return str(flow_run.id)


@pathway("reactions")
def _reactions() -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    state = reactions_flow(return_state=True)
    flow_run_id = state.result()
    # Read the retried task's result back as another process would: from the API, once
    # the server has recorded its final state (task run states reach it as events, which
    # it records asynchronously: read at once, the run can still be RUNNING).
    # The task run itself may not be recorded yet either.
    deadline = time.monotonic() + 30
    login = None
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                # Explicit: the sync client of Prefect 3.7 sends null for both, which its
                # own server refuses (422).
                sort=TaskRunSort.EXPECTED_START_TIME_DESC,
                limit=50,
            )
        logins = [run for run in runs if run.name.startswith("flaky_login")]
        login = logins[0] if len(logins) == 1 else None
        if login is not None and login.state is not None and login.state.is_final():
            break
        time.sleep(0.2)
    try:
        if login is None:
            raise LookupError("the server recorded no flaky_login task run in 30 s")
        read = login.state.result() if login.state is not None else None
    except Exception as exc:  # noqa: BLE001 - recorded: an error, never a wrong value
        record("reactions", api_read=type(exc).__name__)
    else:
        record("reactions", api_read="returned", api_received=digest(str(read)))
    # Released locks leave no lock file behind.
    record(
        "reactions", locks_left=len(list((Path(os.environ["PREFECT_HOME"]) / "locks").glob("*")))
    )
    return state


# --- deferred tasks --------------------------------------------------------------------------


@task
def sync_customer(customer_id: int, api_token: str) -> None:
    pass


@flow
def enqueue_syncs() -> None:
    try:
        sync_customer.delay(42, value_of("deferred"))
    except Exception as exc:  # noqa: BLE001 - a refusal is the intended outcome
        message = str(exc)
        record(
            "deferred",
            error=type(exc).__name__,
            names_task="'sync_customer'" in message,
            names_parameter="'api_token'" in message,
        )
    else:
        record("deferred", error=None)


@pathway("deferred")
def _deferred() -> Any:
    return enqueue_syncs(return_state=True)


def main(spec_path: str) -> int:
    SPEC.update(json.loads(Path(spec_path).read_text()))
    for name in SPEC["pathways"]:
        try:
            state = PATHWAYS[name]()
            if state is not None:
                record(name, state=state.type.value)
        except Exception as exc:  # noqa: BLE001 - recorded; the other pathways still run
            record(name, unexpected=type(exc).__name__)
    Path(SPEC["out"]).write_text(json.dumps(OUTCOME))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
