"""Pathways through what Prefect's client stores on the server: artifacts, events,
Variables, deployments, flow runs of deployments, blocks."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.assets import add_asset_metadata, materialize
from prefect.blocks.core import Block
from prefect.deployments import run_deployment
from prefect.events import emit_event
from prefect.flows import EntrypointType
from prefect.variables import Variable

from tests.support.leak_corpus import runtime as rt
from tests.support.leak_corpus.flows_logging import dsn
from tests.support.leak_corpus.values import DB_USER


def _suffix() -> str:
    return f"{rt.corpus.mode}-{secrets.token_hex(3)}"


# --- artifacts ------------------------------------------------------------------------------------


@task
def publish_run_report(password: str, token: str) -> None:
    rt.corpus.ok("password", password)
    rt.corpus.ok("token", token)
    create_markdown_artifact(
        f"# Load report\n\nLoaded 1,204 rows into `{dsn(password)}`.",
        key=f"load-report-{_suffix()}",
        description=f"target {dsn(password)}",
    )
    create_table_artifact(
        [{"target": "warehouse", "user": DB_USER, "password": password, "rows": 1204}],
        key=f"load-targets-{_suffix()}",
    )
    create_link_artifact(
        f"https://exports.example.invalid/orders.csv?sig={token}",
        link_text="download the export",
        key=f"export-link-{_suffix()}",
    )


@flow
def artifacts_flow() -> None:
    publish_run_report(rt.corpus.task("password"), rt.corpus.task("token"))


@rt.implements("artifacts")
def _artifacts(c: rt.Corpus) -> Any:
    return artifacts_flow(return_state=True)


# --- user_events ----------------------------------------------------------------------------------


@task
def announce_load(password: str, token: str) -> None:
    rt.corpus.ok("password", password)
    rt.corpus.ok("token", token)
    emit_event(
        event="warehouse.load.started",
        resource={"prefect.resource.id": "warehouse.analytics", "warehouse.dsn": dsn(password)},
        payload={"request": {"headers": {"Authorization": f"Bearer {token}"}}},
    )


@flow
def user_events_flow() -> None:
    announce_load(rt.corpus.task("password"), rt.corpus.task("token"))


@rt.implements("user_events")
def _user_events(c: rt.Corpus) -> Any:
    return user_events_flow(return_state=True)


# --- asset_metadata -------------------------------------------------------------------------------

ORDERS = "s3://fake-lake/orders/daily.parquet"


@materialize(ORDERS)
def write_orders(password: str) -> None:
    rt.corpus.ok("password", password)
    add_asset_metadata(ORDERS, {"source": dsn(password), "rows": 1204})


@flow
def asset_metadata_flow() -> None:
    write_orders(rt.corpus.task("password"))


@rt.implements("asset_metadata")
def _asset_metadata(c: rt.Corpus) -> Any:
    return asset_metadata_flow(return_state=True)


# --- variable_set ---------------------------------------------------------------------------------


@flow
def variable_set_flow() -> None:
    password, token = rt.corpus.task("password"), rt.corpus.task("token")
    rt.corpus.ok("password", password)
    rt.corpus.ok("token", token)
    names = [f"warehouse-dsn-{_suffix()}", f"api-config-{_suffix()}"]
    rt.corpus.note("variables", names)
    values = [dsn(password), {"base_url": "https://api.example.invalid", "token": token}]
    for name, value in zip(names, values, strict=True):
        try:
            Variable.set(name, value, overwrite=True)
        except Exception as exc:  # noqa: BLE001 - a refusal is one of the intended outcomes
            rt.corpus.refused(f"Variable.set {name}", exc)


@rt.implements("variable_set")
def _variable_set(c: rt.Corpus) -> Any:
    return variable_set_flow(return_state=True)


# --- deployment_params ----------------------------------------------------------------------------


@flow
def nightly_export(dsn: str, batch_size: int = 1000) -> None:
    get_run_logger().info("exporting in batches of %d", batch_size)


def _apply(deployment: Any) -> str:
    return str(deployment.apply())


def _process_work_pool() -> str:
    """A `process` work pool, as `prefect work-pool create --type process` makes it."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    name = "corpus-process-pool"
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
    return name


@rt.implements("deployment_params")
def _deployment_params(c: rt.Corpus) -> Any:
    password = c.get("password")
    token = c.get("token")
    c.ok("password", password)
    c.ok("token", token)
    name = f"nightly-{_suffix()}"
    try:
        deployment_id = _apply(
            nightly_export.to_deployment(
                name=name,
                parameters={"dsn": dsn(password), "batch_size": 500},
                job_variables={"env": {"WAREHOUSE_PASSWORD": password, "API_TOKEN": token}},
                work_pool_name=_process_work_pool(),
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
        c.note("deployment_id", deployment_id)
    except Exception as exc:  # noqa: BLE001 - a refusal is one of the intended outcomes
        c.refused("to_deployment().apply()", exc)


# --- run_deployment_params ------------------------------------------------------------------------


@flow
def refresh_dashboard(api_token: str = "") -> None:
    get_run_logger().info("refreshing")


@flow
def orchestrate(deployment: str) -> None:
    token = rt.corpus.task("token")
    rt.corpus.ok("token", token)
    try:
        run = run_deployment(
            deployment,
            parameters={"api_token": token},
            job_variables={"env": {"API_TOKEN": token}},
            timeout=0,
        )
        rt.corpus.note("flow_run_id", str(run.id))
    except Exception as exc:  # noqa: BLE001 - a refusal is one of the intended outcomes
        rt.corpus.refused("run_deployment", exc)


@rt.implements("run_deployment_params")
def _run_deployment_params(c: rt.Corpus) -> Any:
    # A deployment with no secret in it, as a platform team would have made it.
    name = f"dashboard-{_suffix()}"
    deployment_id = _apply(
        refresh_dashboard.to_deployment(name=name, entrypoint_type=EntrypointType.MODULE_PATH)
    )
    c.note("deployment_id", deployment_id)
    return orchestrate(f"refresh-dashboard/{name}", return_state=True)


# --- block_field ----------------------------------------------------------------------------------


class WarehouseConnection(Block):
    """A team's own block: the DSN in a plain string field (not SecretStr)."""

    _block_type_name = "Corpus Warehouse Connection"
    dsn: str
    schema_name: str = "analytics"


@rt.implements("block_field")
def _block_field(c: rt.Corpus) -> Any:
    password = c.get("password")
    c.ok("password", password)
    name = f"warehouse-{_suffix()}"
    c.note("block_name", name)
    try:
        WarehouseConnection(dsn=dsn(password)).save(name, overwrite=True)
    except Exception as exc:  # noqa: BLE001 - a refusal is one of the intended outcomes
        c.refused("Block.save", exc)
