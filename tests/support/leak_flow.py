"""The flow of the leak test (tests/test_leak.py), run in a subprocess against a real server.

    python tests/support/leak_flow.py library|plain TOKEN_NAME WAREHOUSE_NAME MARKER

It loads two secrets, a string and a dict, then does with them what flows
do by accident: logs them (`%s`, `%r`, f-string, the root logger), prints
them with `log_prints`, raises an exception that quotes one, and passes both
to a subflow as parameters. `library` loads them with `SecretTask`; `plain`
reads Prefect's own `Secret` blocks directly, as a flow does without this
library (the control). Every line it logs carries MARKER, so the test can
tell when the server has recorded everything. The real values are never
printed: downstream tasks compare SHA-256 digests (env LEAK_TOKEN_SHA256,
LEAK_PASSWORD_SHA256) to show they received them unmasked.

Prints one line: `RESULT <flow run id> <subflow run id> <failed task run id> <received>`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from prefect_secrets import SecretTask
from prefect_secrets._core.names import block_name


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def received_real_values(token: str, warehouse: dict[str, str]) -> bool:
    return (
        _digest(token) == os.environ["LEAK_TOKEN_SHA256"]
        and _digest(warehouse["password"]) == os.environ["LEAK_PASSWORD_SHA256"]
    )


@task
def load_with_prefect(block: str) -> Any:
    """The control: a secret read as plain Prefect 3 does it."""
    from prefect.blocks.system import Secret as SecretBlock

    return SecretBlock.load(block).get()


@task
def use_credentials(token: str, warehouse: dict[str, str], marker: str) -> bool:
    logger = get_run_logger()
    logger.info("[%s] calling the API with token %s and %r", marker, token, warehouse)
    logger.warning(
        f"[{marker}] connecting as {warehouse['user']} with password {warehouse['password']}"
    )
    print(f"[{marker}] printed: token={token}")
    return received_real_values(token, warehouse)


@task
def authenticate(token: str, marker: str) -> None:
    raise RuntimeError(f"auth failed for {token} [{marker}]")


@flow(log_prints=True)
def report(token: str, warehouse: dict[str, str], marker: str) -> tuple[str, bool]:
    get_run_logger().info("[%s] subflow got token %s", marker, token)
    return str(flow_run.id), received_real_values(token, warehouse)


@flow(log_prints=True)
def leak(mode: str, token_name: str, warehouse_name: str, marker: str) -> list[str]:
    if mode == "library":
        token = SecretTask(token_name)()
        warehouse = SecretTask(warehouse_name)()
    else:
        token = load_with_prefect(block_name(token_name))
        warehouse = load_with_prefect(block_name(warehouse_name))
    used_real_values = use_credentials(token, warehouse, marker)
    failed = authenticate(token, marker, return_state=True)
    subflow_run_id, subflow_real_values = report(token, warehouse, marker)
    print(f"[{marker}] the flow printed: password={warehouse['password']}")
    logging.getLogger("etl").warning("[%s] a library logger: token=%s", marker, token)
    task_run_id: UUID | None = failed.state_details.task_run_id
    received = used_real_values and subflow_real_values and failed.is_failed()
    return [str(flow_run.id), subflow_run_id, str(task_run_id), str(received)]


if __name__ == "__main__":
    ids = leak(*sys.argv[1:5])
    print("RESULT " + " ".join(ids))
