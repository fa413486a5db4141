"""Pathways that need process settings (group `settings` in catalog.py): Prefect's JSON
console formatter, DEBUG logging and PREFECT_DEBUG_MODE, persistence by default,
and a small PREFECT_LOGGING_TO_API_MAX_LOG_SIZE."""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow, get_run_logger, task

from tests.support.leak_corpus import runtime as rt
from tests.support.leak_corpus.flows_logging import dsn
from tests.support.leak_corpus.values import DB_USER

# --- json_console_extra ---------------------------------------------------------------------------


@task
def connect_with_context(password: str) -> None:
    rt.corpus.ok("password", password)
    conn = {"host": "warehouse.example.invalid", "user": DB_USER, "password": password}
    get_run_logger().info("connecting to the warehouse", extra={"conn": conn})
    # %-style mapping arguments: the message uses `user` only, the record keeps all.
    logging.getLogger("etl").warning("%(user)s is connecting", {"user": DB_USER, **conn})


@flow
def json_console_extra_flow() -> None:
    connect_with_context(rt.corpus.task("password"))


@rt.implements("json_console_extra")
def _json_console_extra(c: rt.Corpus) -> Any:
    return json_console_extra_flow(return_state=True)


# --- persist_by_default ---------------------------------------------------------------------------


@task
def engine_url(password: str) -> str:
    rt.corpus.ok("password", password)
    return dsn(password)


@flow
def persist_by_default_flow() -> None:
    engine_url(rt.corpus.task("password"))


@rt.implements("persist_by_default")
def _persist_by_default(c: rt.Corpus) -> Any:
    return persist_by_default_flow(return_state=True)


# --- debug_mode_state_repr ------------------------------------------------------------------------


# persist_result=False: this pathway is about DEBUG logs and repr(state), not about
# persistence by default (persist_by_default covers that).
@task(task_run_name="headers-for-{token}", persist_result=False)
def bearer_headers(token: str) -> dict[str, str]:
    rt.corpus.ok("token", token)
    return {"Authorization": f"Bearer {token}"}


@flow
def debug_mode_state_repr_flow() -> None:
    bearer_headers(rt.corpus.task("token"))


@rt.implements("debug_mode_state_repr")
def _debug_mode_state_repr(c: rt.Corpus) -> Any:
    return debug_mode_state_repr_flow(return_state=True)


# --- api_log_truncation ---------------------------------------------------------------------------


@task
def log_response(pem: str) -> None:
    rt.corpus.ok("pem", pem)
    # The key starts before the cut (max size 3000 minus the record's own fields).
    body = "x" * 2200 + pem + "y" * 2000
    get_run_logger().info("signing service response body: %s", body)


@flow
def api_log_truncation_flow() -> None:
    log_response(rt.corpus.task("pem"))


@rt.implements("api_log_truncation")
def _api_log_truncation(c: rt.Corpus) -> Any:
    return api_log_truncation_flow(return_state=True)
