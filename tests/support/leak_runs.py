"""The leak flow (tests/support/leak_flow.py) run against the session's server, twice: with
plain Prefect (the control) and with prefect-secrets. Shared by the leak test, which scans
every byte the runs left behind, and the UI test, which opens the pages a user opens.

Each side gets its own two fake secrets (a string and a dict), saved as Prefect `Secret`
blocks. Before it is handed out, a run is waited for until the server shows its logs, the
failed task run's state message, the subflow's parameters and the task run's events,
found through a marker logged next to every value: zero counts then mean "masked", not
"not written yet".
"""

from __future__ import annotations

import contextvars
import hashlib
import os
import secrets as random_secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from prefect_secrets._core.names import block_name
from tests.support.servers import PrefectServer

__all__ = [
    "EXPECTED_MARKED_LOGS",
    "MASK",
    "LeakRuns",
    "Recorded",
    "Run",
    "Secrets",
    "flow_env",
    "run_both",
]

ROOT = Path(__file__).parent.parent.parent
LEAK_FLOW = Path(__file__).parent / "leak_flow.py"
MASK = "********"
RECORDED_TIMEOUT = 120.0


@dataclass
class Secrets:
    token_name: str
    warehouse_name: str
    token: str
    warehouse: dict[str, str]

    @property
    def plaintexts(self) -> list[str]:
        return [self.token, self.warehouse["user"], self.warehouse["password"]]


@dataclass
class Run:
    result: subprocess.CompletedProcess[bytes]
    client_home: Path
    flow_run_id: str
    subflow_run_id: str
    failed_task_run_id: str
    downstream_received_real_values: bool


def flow_env(home: Path, prefect_home: Path, server: PrefectServer, **extra: str) -> dict[str, str]:
    """The environment of a flow run in a subprocess: this one without Prefect's settings
    or XDG directories, its own HOME and PREFECT_HOME, the session's server, no Prefect 1
    file, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT", "XDG_"))}
    env.update(
        HOME=str(home),
        PYTHONPATH=str(ROOT),
        PREFECT_HOME=str(prefect_home),
        PREFECT_API_URL=server.api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SECRETS_PREFECT1_CONFIG="",
    )
    env.update(extra)
    return env


def run_leak_flow(
    mode: str, secrets: Secrets, server: PrefectServer, workdir: Path, marker: str
) -> Run:
    home = workdir / f"{mode}-home"
    client_home = workdir / f"{mode}-prefect-home"
    home.mkdir()
    env = flow_env(
        home,
        client_home,
        server,
        LEAK_TOKEN_SHA256=_digest(secrets.token),
        LEAK_PASSWORD_SHA256=_digest(secrets.warehouse["password"]),
    )
    argv = [mode, secrets.token_name, secrets.warehouse_name, marker]
    result = subprocess.run(
        [sys.executable, str(LEAK_FLOW), *argv],
        env=env,
        cwd=home,
        capture_output=True,
        timeout=300,
    )
    # Never show the output itself: in the control it holds the plaintexts.
    assert result.returncode == 0, f"leak flow ({mode}) exited with {result.returncode}"
    lines = [line for line in result.stdout.decode().splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"leak flow ({mode}) printed no RESULT line"
    flow_run_id, subflow_run_id, task_run_id, received = lines[0].split()[1:]
    return Run(result, client_home, flow_run_id, subflow_run_id, task_run_id, received == "True")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- waiting until the server has recorded the run -----------------------------------------------


@dataclass
class Recorded:
    """What the API shows of the run, once all of it is there."""

    log_messages: list[str]
    failed_state_message: str
    subflow_parameters: str
    failed_task_events: str


def wait_until_recorded(server: PrefectServer, run: Run, marker: str) -> Recorded:
    deadline = time.monotonic() + RECORDED_TIMEOUT
    missing = "everything"
    with httpx.Client(base_url=server.api_url + "/", timeout=10) as api:
        while time.monotonic() < deadline:
            recorded, missing = _read_recorded(api, run, marker)
            if recorded is not None:
                return recorded
            time.sleep(0.5)
    raise AssertionError(
        f"the server did not record the run within {RECORDED_TIMEOUT} s: {missing}"
    )


# Lines with the marker that reach the API: use_credentials' info, warning and
# print, Prefect's two lines about the failed task, the subflow's info, the flow's print.
EXPECTED_MARKED_LOGS = 7


def _read_recorded(api: httpx.Client, run: Run, marker: str) -> tuple[Recorded | None, str]:
    logs = api.post(
        "logs/filter",
        json={"logs": {"flow_run_id": {"any_": [run.flow_run_id, run.subflow_run_id]}}},
    ).json()
    messages = [log["message"] for log in logs if marker in log["message"]]
    if len(messages) < EXPECTED_MARKED_LOGS:
        return None, f"{len(messages)} of {EXPECTED_MARKED_LOGS} logs"
    task_run = api.get(f"task_runs/{run.failed_task_run_id}")
    state = task_run.json().get("state") if task_run.status_code == 200 else None
    if not state or state["type"] != "FAILED" or marker not in (state["message"] or ""):
        return None, "the failed task run's state"
    subflow = api.get(f"flow_runs/{run.subflow_run_id}")
    if subflow.status_code != 200 or marker not in str(subflow.json()["parameters"]):
        return None, "the subflow's parameters"
    events = api.post(
        "events/filter",
        json={
            "filter": {"any_resource": {"id": [f"prefect.task-run.{run.failed_task_run_id}"]}},
            "limit": 50,
        },
    ).json()["events"]
    failed_events = [e for e in events if e["event"] == "prefect.task-run.Failed"]
    if not failed_events or marker not in str(failed_events):
        return None, "the failed task run's events"
    return (
        Recorded(messages, state["message"], str(subflow.json()["parameters"]), str(events)),
        "",
    )


@dataclass
class LeakRuns:
    """Both runs of the leak flow, each with its secrets and what the server recorded."""

    plain_secrets: Secrets
    plain: Run
    plain_recorded: Recorded
    secrets: Secrets
    run: Run
    recorded: Recorded


def new_secrets(server: PrefectServer, side: str) -> Secrets:
    """Two fresh fake secrets, saved as `Secret` blocks the way users save them."""
    from prefect.blocks.system import Secret as SecretBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def fake(label: str) -> str:
        return f"fake-{label}-{random_secrets.token_hex(4)}"

    tag = random_secrets.token_hex(4).upper()
    made = Secrets(
        token_name=f"LEAK_TOKEN_{side.upper()}_{tag}",
        warehouse_name=f"LEAK_WAREHOUSE_{side.upper()}_{tag}",
        token=fake("token"),
        warehouse={
            "host": "warehouse.example.invalid",
            "user": fake("user"),
            "password": fake("password"),
        },
    )

    def save() -> None:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            token: Any = made.token  # Secret takes any JSON value (typed as SecretStr)
            warehouse: Any = made.warehouse
            SecretBlock(value=token).save(block_name(made.token_name), overwrite=True)
            SecretBlock(value=warehouse).save(block_name(made.warehouse_name), overwrite=True)

    # Block.save returns a coroutine inside a running event loop: save from a plain thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(contextvars.copy_context().run, save).result()
    return made


def run_both(server: PrefectServer, workdir: Path) -> LeakRuns:
    """The control (plain Prefect, its own values) first, then prefect-secrets."""
    plain_secrets = new_secrets(server, "plain")
    plain = run_leak_flow("plain", plain_secrets, server, workdir, marker="marker-plain")
    plain_recorded = wait_until_recorded(server, plain, "marker-plain")
    secrets = new_secrets(server, "library")
    run = run_leak_flow("library", secrets, server, workdir, marker="marker-library")
    recorded = wait_until_recorded(server, run, "marker-library")
    return LeakRuns(plain_secrets, plain, plain_recorded, secrets, run, recorded)
