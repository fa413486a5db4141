"""Pathways through result persistence: what Prefect writes to result storage
(PREFECT_HOME/storage by default) and hands back later (retries, caching,
`state.result()`, `run_deployment(...).state.result()`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS

from tests.support.leak_corpus import runtime as rt
from tests.support.leak_corpus.flows_logging import dsn
from tests.support.leak_corpus.values import DB_USER

# --- flow_exception_persisted ---------------------------------------------------------------------


@flow
def warehouse_healthcheck() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    raise ConnectionError(f"cannot reach {dsn(password)}")


@rt.implements("flow_exception_persisted")
def _flow_exception_persisted(c: rt.Corpus) -> Any:
    # No persistence option anywhere: Prefect persists a failed flow's exception.
    return warehouse_healthcheck(return_state=True)


# --- result_persist_task --------------------------------------------------------------------------


@task(persist_result=True)
def build_dsn(password: str) -> str:
    rt.corpus.ok("password", password)
    return dsn(password)


@task
def run_query(url: str) -> int:
    get_run_logger().info("querying")
    return 1204


@flow
def result_persist_task_flow() -> None:
    run_query(build_dsn(rt.corpus.task("password")))


@rt.implements("result_persist_task")
def _result_persist_task(c: rt.Corpus) -> Any:
    return result_persist_task_flow(return_state=True)


# --- result_cache_inputs --------------------------------------------------------------------------


@task(cache_policy=INPUTS)
def auth_headers(token: str) -> dict[str, str]:
    rt.corpus.ok("token", token)
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


@flow
def result_cache_inputs_flow() -> None:
    auth_headers(rt.corpus.task("token"))


@rt.implements("result_cache_inputs")
def _result_cache_inputs(c: rt.Corpus) -> Any:
    return result_cache_inputs_flow(return_state=True)


# --- result_json_serializer -----------------------------------------------------------------------


@task(persist_result=True, result_serializer="json")
def connection_settings(password: str) -> dict[str, Any]:
    rt.corpus.ok("password", password)
    return {"dsn": dsn(password), "pool_size": 5}


@flow
def result_json_serializer_flow() -> None:
    connection_settings(rt.corpus.task("password"))


@rt.implements("result_json_serializer")
def _result_json_serializer(c: rt.Corpus) -> Any:
    return result_json_serializer_flow(return_state=True)


# --- result_compressed ----------------------------------------------------------------------------


@task(persist_result=True, result_serializer="compressed/pickle")
def signing_material(pem: str) -> dict[str, str]:
    rt.corpus.ok("pem", pem)
    return {"key": pem, "algorithm": "RS256"}


@flow
def result_compressed_flow() -> None:
    signing_material(rt.corpus.task("pem"))


@rt.implements("result_compressed")
def _result_compressed(c: rt.Corpus) -> Any:
    return result_compressed_flow(return_state=True)


# --- result_flow_return ---------------------------------------------------------------------------


@flow(persist_result=True)
def resolve_connections() -> dict[str, Any]:
    password, token = rt.corpus.task("password"), rt.corpus.task("token")
    rt.corpus.ok("password", password)
    rt.corpus.ok("token", token)
    return {"warehouse": {"user": DB_USER, "password": password}, "api_token": token}


@rt.implements("result_flow_return")
def _result_flow_return(c: rt.Corpus) -> Any:
    return resolve_connections(return_state=True)


# --- result_failed_task ---------------------------------------------------------------------------


@task(persist_result=True)
def exchange_token(token: str) -> str:
    rt.corpus.ok("token", token)
    raise PermissionError(f"token exchange refused for {token}")


@flow
def result_failed_task_flow() -> None:
    exchange_token(rt.corpus.task("token"), return_state=True)


@rt.implements("result_failed_task")
def _result_failed_task(c: rt.Corpus) -> Any:
    return result_failed_task_flow(return_state=True)


# --- result_storage_key ---------------------------------------------------------------------------


@task(persist_result=True, result_storage_key="extract-{parameters[source_url]}")
def extract(source_url: str) -> int:
    rt.corpus.ok("api_key", source_url.rsplit("=", 1)[1])
    return 1204


@flow
def result_storage_key_flow() -> None:
    api_key = rt.corpus.task("api_key")
    extract(f"https://exports.example.invalid/orders.csv?api_key={api_key}")


@rt.implements("result_storage_key")
def _result_storage_key(c: rt.Corpus) -> Any:
    return result_storage_key_flow(return_state=True)


# --- deferred_task_params -------------------------------------------------------------------------


@task
def sync_customer(customer_id: int, api_token: str) -> None:
    get_run_logger().info("syncing %d", customer_id)


@flow
def enqueue_syncs(dsn: str) -> None:
    token = rt.corpus.get("token")
    rt.corpus.ok("token", token)
    # A background task for a task worker: Prefect writes its parameters and the
    # serialized run context (this flow's parameters included) to result storage.
    try:
        sync_customer.delay(42, token)
    except Exception as exc:  # noqa: BLE001 - a refusal is one of the intended outcomes
        rt.corpus.refused("Task.delay", exc)


@rt.implements("deferred_task_params")
def _deferred_task_params(c: rt.Corpus) -> Any:
    password = c.get("password")
    c.ok("password", password)
    return enqueue_syncs(dsn(password), return_state=True)
