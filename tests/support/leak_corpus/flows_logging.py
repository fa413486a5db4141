"""Pathways through logging: what a data engineer's flow logs, names and passes around."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import pprint
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import yaml
from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from tests.support.leak_corpus import runtime as rt
from tests.support.leak_corpus.runtime import implements
from tests.support.leak_corpus.values import DB_USER


def dsn(password: str) -> str:
    return f"postgresql://{DB_USER}:{password}@warehouse.example.invalid:5432/analytics"


# --- log_calls (what tests/test_leak.py does, from Secret blocks) --------------------------------


@task
def use_credentials(token: str, password: str) -> None:
    logger = get_run_logger()
    logger.info("calling the API with token %s", token)
    logger.info("credentials: %r", {"user": DB_USER, "password": password})
    logger.warning(f"connecting as {DB_USER} with password {password}")
    print(f"printed: token={token}")
    logging.getLogger().warning("root logger: token=%s", token)
    logging.getLogger("etl.loader").warning("library logger: password=%s", password)
    rt.corpus.ok("token", token)
    rt.corpus.ok("password", password)


@flow(log_prints=True)
def log_calls_flow() -> None:
    token = rt.corpus.task("token")
    password = rt.corpus.task("password")
    use_credentials(token, password)
    print(f"the flow printed: password={password}")


@implements("log_calls")
def _log_calls(c: rt.Corpus) -> Any:
    return log_calls_flow(return_state=True)


# --- task_exception -------------------------------------------------------------------------------


@task
def authenticate(token: str) -> None:
    rt.corpus.ok("token", token)
    raise RuntimeError(f"auth failed for {token}")


@flow
def task_exception_flow() -> None:
    token = rt.corpus.task("token")
    state = authenticate(token, return_state=True)
    get_run_logger().info("authentication failed, continuing: %s", state.is_failed())


@implements("task_exception")
def _task_exception(c: rt.Corpus) -> Any:
    return task_exception_flow(return_state=True)


# --- subflow_params -------------------------------------------------------------------------------


@flow
def upload_report(token: str, service_account: dict[str, Any]) -> None:
    rt.corpus.ok("token", token)
    rt.corpus.ok("sa", service_account)
    get_run_logger().info("uploading as %s", service_account["client_email"])


@flow
def subflow_params_flow() -> None:
    token = rt.corpus.task("token")
    sa = rt.corpus.task("sa")
    upload_report(token, sa)


@implements("subflow_params")
def _subflow_params(c: rt.Corpus) -> Any:
    return subflow_params_flow(return_state=True)


# --- extra_user_handler ---------------------------------------------------------------------------


def audit_logger() -> logging.Logger:
    """The team's own audit log: a file under HOME, its own format with extra fields."""
    logger = logging.getLogger("etl.audit")
    if not logger.handlers:
        handler = logging.FileHandler(Path.home() / "etl-audit.log", encoding="utf-8")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(message)s user=%(db_user)s conn=%(conn)s")
        )
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


@task
def audited_load() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    conn = {"host": "warehouse.example.invalid", "user": DB_USER, "password": password}
    audit_logger().info("load started", extra={"db_user": DB_USER, "conn": conn})
    audit_logger().info("load finished", extra={"db_user": DB_USER, "conn": [dsn(password)]})
    audit_logger().info("load verified", extra={"db_user": DB_USER, "conn": dsn(password)})
    get_run_logger().info("connected", extra={"conn": conn, "dsn": dsn(password)})


@flow
def extra_user_handler_flow() -> None:
    audited_load()


@implements("extra_user_handler")
def _extra_user_handler(c: rt.Corpus) -> Any:
    return extra_user_handler_flow(return_state=True)
    for handler in logging.getLogger("etl.audit").handlers:
        handler.flush()


# --- substring_in_sql -----------------------------------------------------------------------------


@task
def copy_into(table: str) -> None:
    key_id, secret = rt.corpus.get("key_id"), rt.corpus.get("secret")
    rt.corpus.ok("key_id", key_id)
    rt.corpus.ok("secret", secret)
    sql = (
        f"COPY INTO {table} FROM 's3://fake-bucket/exports/' "
        f"CREDENTIALS=(AWS_KEY_ID='{key_id}' AWS_SECRET_KEY='{secret}') FILE_FORMAT=(TYPE=CSV)"
    )
    get_run_logger().info("running: %s", sql)
    raise RuntimeError(f"statement failed: {sql}")


@flow
def substring_in_sql_flow() -> None:
    copy_into("raw.orders", return_state=True)


@implements("substring_in_sql")
def _substring_in_sql(c: rt.Corpus) -> Any:
    return substring_in_sql_flow(return_state=True)


# --- dict_as_json ---------------------------------------------------------------------------------


@task
def check_service_account(sa: dict[str, Any]) -> None:
    rt.corpus.ok("sa", sa)
    logger = get_run_logger()
    logger.info("service account:\n%s", json.dumps(sa, indent=2))
    logger.info("service account (str): %s", sa)


@flow
def dict_as_json_flow() -> None:
    check_service_account(rt.corpus.task("sa"))


@implements("dict_as_json")
def _dict_as_json(c: rt.Corpus) -> Any:
    return dict_as_json_flow(return_state=True)


# --- chained_notes --------------------------------------------------------------------------------


@task
def open_connection() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    try:
        raise OSError(f"could not connect to {dsn(password)}")
    except OSError as cause:
        error = RuntimeError("warehouse unreachable")
        error.add_note(f"dsn: {dsn(password)}")
        try:
            raise error from cause
        except RuntimeError:
            get_run_logger().exception("giving up on the warehouse")
            raise


@flow
def chained_notes_flow() -> None:
    open_connection(return_state=True)


@implements("chained_notes")
def _chained_notes(c: rt.Corpus) -> Any:
    return chained_notes_flow(return_state=True)


# --- runtime_parameters ---------------------------------------------------------------------------


@task
def describe_run() -> None:
    get_run_logger().info("running with parameters %s", flow_run.parameters)


@flow
def nightly_load(dsn: str) -> None:
    rt.corpus.ok("password", dsn.split(":", 2)[2].rsplit("@", 1)[0])
    describe_run()


@flow
def runtime_parameters_flow() -> None:
    password = rt.corpus.task("password")
    nightly_load(dsn(password))


@implements("runtime_parameters")
def _runtime_parameters(c: rt.Corpus) -> Any:
    return runtime_parameters_flow(return_state=True)


# --- run_names ------------------------------------------------------------------------------------


def export_url(token: str) -> str:
    return f"https://api.example.invalid/v2/export?format=csv&access_token={token}"


@task(task_run_name="export-{url}")
def export(url: str) -> None:
    rt.corpus.ok("token", url.rsplit("=", 1)[1])
    get_run_logger().info("exporting")


@flow(flow_run_name="sync-{url}")
def sync_tenant(url: str) -> None:
    export(url)


@flow
def run_names_flow() -> None:
    token = rt.corpus.task("token")
    sync_tenant(export_url(token))


@implements("run_names")
def _run_names(c: rt.Corpus) -> Any:
    return run_names_flow(return_state=True)


# --- retries --------------------------------------------------------------------------------------

_attempts: dict[str, int] = {}


@task(retries=2, retry_delay_seconds=0)
def flaky_call(token: str) -> None:
    rt.corpus.ok("token", token)
    _attempts["flaky"] = _attempts.get("flaky", 0) + 1
    if _attempts["flaky"] < 3:
        raise ConnectionError(f"503 from https://api.example.invalid/v1?token={token}")


@flow
def retries_flow() -> None:
    flaky_call(rt.corpus.task("token"))


@implements("retries")
def _retries(c: rt.Corpus) -> Any:
    return retries_flow(return_state=True)


# --- state_hooks ----------------------------------------------------------------------------------


def report_failure(task: Any, task_run: Any, state: Any) -> None:
    logger = logging.getLogger("etl.hooks")
    logger.error("task %s failed: %s", task_run.name, state.message)
    raise RuntimeError(f"could not page on-call about: {state.message}")


def report_success(task: Any, task_run: Any, state: Any) -> None:
    logging.getLogger("etl.hooks").warning("task returned %s", state.result())


@task(on_failure=[report_failure])
def push_metrics(token: str) -> None:
    rt.corpus.ok("token", token)
    raise PermissionError(f"metrics endpoint refused token {token}")


@task(on_completion=[report_success])
def make_headers(token: str) -> dict[str, str]:
    rt.corpus.ok("token", token)
    return {"Authorization": f"Bearer {token}"}


@flow
def state_hooks_flow() -> None:
    token = rt.corpus.task("token")
    push_metrics(token, return_state=True)
    make_headers(token)


@implements("state_hooks")
def _state_hooks(c: rt.Corpus) -> Any:
    return state_hooks_flow(return_state=True)


# --- map_submit -----------------------------------------------------------------------------------


@task
def load_partition(dsn: str, partition: int) -> int:
    get_run_logger().info("loading partition %d over %s", partition, dsn)
    return partition


@task
def call_api(token: str) -> None:
    rt.corpus.ok("token", token)
    get_run_logger().info("GET /v1/items Authorization: Bearer %s", token)


@flow
def map_submit_flow() -> None:
    password = rt.corpus.task("password")
    rt.corpus.ok("password", password)
    futures = load_partition.map([dsn(password)] * 3, [1, 2, 3])
    call_api.submit(rt.corpus.task("token")).wait()
    futures.wait()


@implements("map_submit")
def _map_submit(c: rt.Corpus) -> Any:
    return map_submit_flow(return_state=True)


# --- async_tasks ----------------------------------------------------------------------------------


@task
async def fetch_page(token: str, page: int) -> None:
    rt.corpus.ok("token", token)
    await asyncio.sleep(0)
    get_run_logger().info("fetching page %d with token %s", page, token)
    if page == 2:
        raise RuntimeError(f"page {page} rejected token {token}")


@flow
async def async_tasks_flow() -> None:
    token = rt.corpus.get("token")
    rt.corpus.ok("token", token)
    await asyncio.gather(
        fetch_page(token, 1), fetch_page(token, 2, return_state=True), return_exceptions=True
    )


@implements("async_tasks")
def _async_tasks(c: rt.Corpus) -> Any:
    return asyncio.run(async_tasks_flow(return_state=True))


# --- bytes_repr -----------------------------------------------------------------------------------


@task
def post_form() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    body = f"grant_type=password&username={DB_USER}&password={password}".encode()
    get_run_logger().info("POST /oauth/token body=%r", body)


@flow
def bytes_repr_flow() -> None:
    post_form()


@implements("bytes_repr")
def _bytes_repr(c: rt.Corpus) -> Any:
    return bytes_repr_flow(return_state=True)


# --- derived_encodings ----------------------------------------------------------------------------


@task
def call_legacy_api() -> None:
    password, token = rt.corpus.get("password"), rt.corpus.get("token")
    rt.corpus.ok("password", password)
    rt.corpus.ok("token", token)
    basic = base64.b64encode(f"{DB_USER}:{password}".encode()).decode()
    logger = get_run_logger()
    logger.info("request headers: %s", {"Authorization": f"Basic {basic}"})
    logger.info(
        "engine url: postgresql://%s:%s@warehouse.example.invalid/analytics",
        DB_USER,
        quote_plus(password),
    )
    logger.info("signed payload: %s", token.encode().hex())


@flow
def derived_encodings_flow() -> None:
    call_legacy_api()


@implements("derived_encodings")
def _derived_encodings(c: rt.Corpus) -> Any:
    return derived_encodings_flow(return_state=True)


# --- http_error_url -------------------------------------------------------------------------------


@task
def download_export() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    transport = httpx.MockTransport(lambda request: httpx.Response(401))
    with httpx.Client(transport=transport) as client:
        response = client.get(
            "https://api.example.invalid/v1/export",
            params={"user": DB_USER, "password": password},
        )
        response.raise_for_status()


@flow
def http_error_url_flow() -> None:
    download_export(return_state=True)


@implements("http_error_url")
def _http_error_url(c: rt.Corpus) -> Any:
    return http_error_url_flow(return_state=True)


# --- pprint_yaml_wrap -----------------------------------------------------------------------------


@task
def show_config() -> None:
    sa, token = rt.corpus.get("sa"), rt.corpus.get("token")
    rt.corpus.ok("sa", sa)
    rt.corpus.ok("token", token)
    config = {"gcp": sa, "api": {"token": token, "timeout": 30}}
    logger = get_run_logger()
    logger.info("effective config:\n%s", pprint.pformat(config, width=100))
    logger.info("effective config (yaml):\n%s", yaml.safe_dump(config))


@flow
def pprint_yaml_wrap_flow() -> None:
    show_config()


@implements("pprint_yaml_wrap")
def _pprint_yaml_wrap(c: rt.Corpus) -> Any:
    return pprint_yaml_wrap_flow(return_state=True)
