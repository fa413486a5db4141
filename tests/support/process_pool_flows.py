"""The flow of tests/test_masking_workers.py, run in a subprocess against a real server.

    POOL_FLOWS_MODE=library|plain python tests/support/process_pool_flows.py IN OUT MARKER

One flow on `ProcessPoolTaskRunner(max_workers=1)` (one spawned worker):

1. a task in the worker obtains secret OUT and returns it; the flow (in the parent,
   which has registered no value yet) logs it and prints it;
2. the flow obtains secret IN in the parent and passes it to a task in the worker,
   which logs it and prints it (`log_prints=True`).

`library` obtains the values with `Secret(name).get()`; `plain` reads the same env
vars (`PREFECT__CONTEXT__SECRETS__<NAME>`) with `os.environ`, as plain Prefect (the
control; it never imports prefect_secrets). Every line it logs carries MARKER. The
values are never printed by this script itself, only by the flow under test: digests
(env IN_SHA256, OUT_SHA256) show that the tasks and the flow received the real values.

Prints one line: `RESULT <flow run id> <worker received IN> <parent received OUT>`.
"""

from __future__ import annotations

import hashlib
import os
import sys

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner

LIBRARY = os.environ["POOL_FLOWS_MODE"] == "library"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def obtain(name: str) -> str:
    if LIBRARY:
        from prefect_secrets import Secret

        value: str = Secret(name).get()
        return value
    return os.environ[f"PREFECT__CONTEXT__SECRETS__{name}"]


@task(log_prints=True)
def use_in_worker(token: str, marker: str) -> bool:
    get_run_logger().info("[%s] the worker got token %s", marker, token)
    print(f"[{marker}] the worker printed token={token}")
    return _digest(token) == os.environ["IN_SHA256"]


@task
def obtain_in_worker(name: str) -> str:
    return obtain(name)


@flow(log_prints=True, task_runner=ProcessPoolTaskRunner(max_workers=1))
def process_pool_masking(in_name: str, out_name: str, marker: str) -> list[str]:
    resolved = obtain_in_worker.submit(out_name).result()
    get_run_logger().info("[%s] the parent got %s from the worker", marker, resolved)
    print(f"[{marker}] the parent printed resolved={resolved}")
    parent_received = _digest(resolved) == os.environ["OUT_SHA256"]
    token = obtain(in_name)
    worker_received = use_in_worker.submit(token, marker).result()
    return [str(flow_run.id), str(worker_received), str(parent_received)]


if __name__ == "__main__":
    ids = process_pool_masking(*sys.argv[1:4])
    print("RESULT " + " ".join(ids))
