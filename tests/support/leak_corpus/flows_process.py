"""Pathways through other processes: ProcessPoolTaskRunner workers, child processes,
and files a task writes itself.

No `from __future__ import annotations` here: Prefect validates a flow's parameters with
a model built from its annotations, and Prefect 3.4 cannot resolve a postponed `rt.Ref`
(the flow failed before it ran: "`rt` is not fully defined")."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.task_runners import ProcessPoolTaskRunner

from tests.support.leak_corpus import runtime as rt
from tests.support.leak_corpus.flows_logging import dsn
from tests.support.leak_corpus.values import DB_USER

# Tasks below run in spawned worker processes, where `rt.corpus` is not set:
# they get a `Ref` (how to obtain the value, and its digest), never the corpus.

# --- process_pool_worker_resolves -----------------------------------------------------------------


@task
def resolve_dsn(ref: rt.Ref) -> str:
    password = rt.resolve(ref)  # library mode: Secret(name).get() in the worker
    return dsn(password)


@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
def process_pool_worker_resolves_flow(ref: rt.Ref) -> None:
    url = resolve_dsn.submit(ref).result()
    rt.corpus.ok("password", url.split(":", 2)[2].rsplit("@", 1)[0])
    get_run_logger().info("worker resolved the connection: %s", url)


@rt.implements("process_pool_worker_resolves")
def _process_pool_worker_resolves(c: rt.Corpus) -> Any:
    return process_pool_worker_resolves_flow(c.ref("password"), return_state=True)


# --- process_pool_worker_logs ---------------------------------------------------------------------


@task(log_prints=True)
def sync_in_worker(token: str, digest: str) -> bool:
    get_run_logger().info("syncing with token %s", token)
    print(f"worker printed: token={token}")
    if rt.digest_of(token) != digest:
        return False
    raise RuntimeError(f"sync rejected token {token}")


@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
def process_pool_worker_logs_flow() -> None:
    token = rt.corpus.task("token")
    rt.corpus.ok("token", token)
    future = sync_in_worker.submit(token, rt.corpus.ref("token").digest)
    future.wait()
    # The worker raises only once its digest matched: Failed means "received the real value".
    rt.corpus.received(future.state.is_failed())


@rt.implements("process_pool_worker_logs")
def _process_pool_worker_logs(c: rt.Corpus) -> Any:
    return process_pool_worker_logs_flow(return_state=True)


# --- env_injection_child_process (out of reach) ---------------------------------------------------

_ECHO = 'printf "pg_dump: connecting as %s with password %s\\n" "$PGUSER" "$PGPASSWORD"'


@task
def dump_database() -> None:
    ref = rt.corpus.ref("password")
    sys.stdout.flush()
    if ref.mode == "library":
        from prefect_secrets import Secret, with_secrets

        with with_secrets(Secret(ref.name, as_env_var="PGPASSWORD")):
            rt.corpus.ok("password", os.environ["PGPASSWORD"])
            subprocess.run(["sh", "-c", _ECHO], check=True, env={**os.environ, "PGUSER": DB_USER})
    else:
        password = rt.corpus.get("password")
        rt.corpus.ok("password", password)
        env = {**os.environ, "PGUSER": DB_USER, "PGPASSWORD": password}
        subprocess.run(["sh", "-c", _ECHO], check=True, env=env)


@flow
def env_injection_child_process_flow() -> None:
    dump_database()


@rt.implements("env_injection_child_process")
def _env_injection_child_process(c: rt.Corpus) -> Any:
    return env_injection_child_process_flow(return_state=True)


# --- task_writes_home_file (out of reach) ---------------------------------------------------------


@task
def write_pgpass() -> None:
    password = rt.corpus.get("password")
    rt.corpus.ok("password", password)
    pgpass = Path.home() / ".pgpass"
    pgpass.write_text(f"warehouse.example.invalid:5432:analytics:{DB_USER}:{password}\n")
    pgpass.chmod(0o600)


@flow
def task_writes_home_file_flow() -> None:
    write_pgpass()


@rt.implements("task_writes_home_file")
def _task_writes_home_file(c: rt.Corpus) -> Any:
    return task_writes_home_file_flow(return_state=True)
