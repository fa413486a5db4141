"""Pathways through exceptions, warnings and the process's own streams."""

from __future__ import annotations

import sys
import traceback
import warnings
from typing import Any

from prefect import flow, get_run_logger, task
from pydantic import BaseModel, Field

from tests.support.leak_corpus import runtime as rt
from tests.support.leak_corpus.flows_logging import dsn
from tests.support.leak_corpus.values import DB_USER

# --- escaped_reprs --------------------------------------------------------------------------------


@task
def check_credentials(password: str) -> None:
    rt.corpus.ok("password", password)
    creds = {"user": DB_USER, "password": password}
    raise ValueError(f"warehouse rejected credentials {creds}")


@task
def lookup_role(password: str) -> str:
    roles = {"readonly": "r"}
    return roles[password]  # KeyError(password): its str() is already a repr


@flow
def escaped_reprs_flow() -> None:
    password = rt.corpus.task("password")
    check_credentials(password, return_state=True)
    lookup_role(password, return_state=True)


@rt.implements("escaped_reprs")
def _escaped_reprs(c: rt.Corpus) -> Any:
    return escaped_reprs_flow(return_state=True)


# --- multiline_values -----------------------------------------------------------------------------


@task
def load_signing_key(pem: str, sa: dict[str, Any]) -> None:
    rt.corpus.ok("pem", pem)
    rt.corpus.ok("sa", sa)
    get_run_logger().info("loaded signing key:\n%s", pem)
    raise ValueError(f"could not parse key {pem!r} for {sa['client_email']}: {sa}")


@flow
def multiline_values_flow() -> None:
    load_signing_key(rt.corpus.task("pem"), rt.corpus.task("sa"), return_state=True)


@rt.implements("multiline_values")
def _multiline_values(c: rt.Corpus) -> Any:
    return multiline_values_flow(return_state=True)


# --- timeout_repr ---------------------------------------------------------------------------------


@task
def connect_with_timeout(password: str) -> None:
    rt.corpus.ok("password", password)
    raise TimeoutError(f"timed out connecting to {dsn(password)}")


@flow
def timeout_repr_flow() -> None:
    connect_with_timeout(rt.corpus.task("password"), return_state=True)


@rt.implements("timeout_repr")
def _timeout_repr(c: rt.Corpus) -> Any:
    return timeout_repr_flow(return_state=True)


# --- state_message_truncation ---------------------------------------------------------------------


@task
def call_signing_service(pem: str) -> None:
    rt.corpus.ok("pem", pem)
    # A verbose error: the whole request dumped, the key starting just before
    # Prefect's cut at 50,000 characters (utilities.text.truncated_to(100_000, ...)).
    prefix = "signing service returned 500 for request: " + "x" * 49_400
    raise RuntimeError(prefix + pem + " " + "y" * 70_000)


@flow
def state_message_truncation_flow() -> None:
    call_signing_service(rt.corpus.task("pem"), return_state=True)


@rt.implements("state_message_truncation")
def _state_message_truncation(c: rt.Corpus) -> Any:
    return state_message_truncation_flow(return_state=True)


# --- pydantic_fragment ----------------------------------------------------------------------------


class ApiSettings(BaseModel):
    base_url: str
    api_key: str = Field(max_length=64)


@task
def configure_client(token: str) -> None:
    rt.corpus.ok("token", token)
    ApiSettings.model_validate({"base_url": "https://api.example.invalid", "api_key": token})


@flow
def pydantic_fragment_flow() -> None:
    configure_client(rt.corpus.task("token"), return_state=True)


@rt.implements("pydantic_fragment")
def _pydantic_fragment(c: rt.Corpus) -> Any:
    return pydantic_fragment_flow(return_state=True)


# --- flow_param_validation ------------------------------------------------------------------------


@flow
def open_tunnel(host: str, port: int) -> None:
    get_run_logger().info("tunnel to %s:%d", host, port)


@flow
def flow_param_validation_flow() -> None:
    token = rt.corpus.task("token")
    rt.corpus.ok("token", token)
    # Arguments swapped by mistake: the token lands in `port`.
    open_tunnel("bastion.example.invalid", token, return_state=True)


@rt.implements("flow_param_validation")
def _flow_param_validation(c: rt.Corpus) -> Any:
    return flow_param_validation_flow(return_state=True)


# --- warnings_warn --------------------------------------------------------------------------------


@task
def check_dsn() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    warnings.warn(f"DSN uses the deprecated 'postgres' scheme: {dsn(password)}", stacklevel=1)


@flow
def warnings_warn_flow() -> None:
    check_dsn()


@rt.implements("warnings_warn")
def _warnings_warn(c: rt.Corpus) -> Any:
    return warnings_warn_flow(return_state=True)


# --- print_without_log_prints ---------------------------------------------------------------------


@task
def connect_verbose() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    print(f"connecting to {dsn(password)}")


@flow
def print_without_log_prints_flow() -> None:
    connect_verbose()


@rt.implements("print_without_log_prints")
def _print_without_log_prints(c: rt.Corpus) -> Any:
    return print_without_log_prints_flow(return_state=True)
    sys.stdout.flush()


# --- traceback_print_exc --------------------------------------------------------------------------


@task
def connect_or_report() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    try:
        raise ConnectionRefusedError(f"connection refused: {dsn(password)}")
    except ConnectionRefusedError:
        traceback.print_exc()


@flow
def traceback_print_exc_flow() -> None:
    connect_or_report()


@rt.implements("traceback_print_exc")
def _traceback_print_exc(c: rt.Corpus) -> Any:
    return traceback_print_exc_flow(return_state=True)
    sys.stderr.flush()


# --- uncaught_exception ---------------------------------------------------------------------------


@task
def refresh_token(token: str) -> None:
    rt.corpus.ok("token", token)
    raise PermissionError(f"token {token} was revoked")


@flow
def uncaught_exception_flow() -> None:
    refresh_token(rt.corpus.task("token"))


@rt.implements("uncaught_exception")
def _uncaught_exception(c: rt.Corpus) -> Any:
    try:
        uncaught_exception_flow()
    except PermissionError:
        # What the interpreter does with an exception nothing catches, before exiting.
        sys.excepthook(*sys.exc_info())
        sys.stderr.flush()
