"""The leak test: a flow that mishandles two secrets, run in a subprocess against a real server,
then every byte it left behind scanned for the plaintexts.

Places scanned: the subprocess's stdout and stderr, every file of the
server's PREFECT_HOME (the SQLite database, its WAL and shared memory, the
server log) and every file of the client's PREFECT_HOME (result storage).
The same flow with plain Prefect (reading Prefect's `Secret` blocks directly)
is the control: it proves the scanner finds leaks where there are some.

Before scanning, the test waits until the server shows the flow's logs,
the failed task run's state message, the subflow's parameters and the task
run's events, found through a marker logged next to every value: zero
counts then mean "masked", not "not written yet".
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_secrets._core.names import block_name
from tests.support.leak_scan import files_under, occurrences
from tests.support.servers import PrefectServer

ROOT = Path(__file__).parent.parent
LEAK_FLOW = Path(__file__).parent / "support" / "leak_flow.py"
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


@pytest.fixture
def make_secrets(
    save_block: Callable[[str, Any], None],
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> Callable[[], Secrets]:
    """Two Secret blocks on the session's server: a string and a dict, fresh values each call."""

    def make() -> Secrets:
        secrets = Secrets(
            token_name=unique_name("LEAK_TOKEN"),
            warehouse_name=unique_name("LEAK_WAREHOUSE"),
            token=fake("token"),
            warehouse={
                "host": "warehouse.example.invalid",
                "user": fake("user"),
                "password": fake("password"),
            },
        )
        save_block(block_name(secrets.token_name), secrets.token)
        save_block(block_name(secrets.warehouse_name), secrets.warehouse)
        return secrets

    return make


def run_leak_flow(
    mode: str, secrets: Secrets, server: PrefectServer, workdir: Path, marker: str
) -> Run:
    home = workdir / f"{mode}-home"
    client_home = workdir / f"{mode}-prefect-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT", "XDG_"))}
    env.update(
        HOME=str(home),
        PYTHONPATH=str(ROOT),
        PREFECT_HOME=str(client_home),
        PREFECT_API_URL=server.api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SECRETS_PREFECT1_CONFIG="",
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


# --- scanning -------------------------------------------------------------------------------------


def count_in_places(run: Run, server: PrefectServer, plaintexts: list[str]) -> dict[str, int]:
    """Occurrences of the plaintexts per place (bytes, and inside base64: see leak_scan)."""
    places: dict[str, bytes] = {
        "subprocess stdout": run.result.stdout,
        "subprocess stderr": run.result.stderr,
    }
    for label, home in (("server home", server.home), ("client home", run.client_home)):
        for path in files_under(home):
            places[f"{label}: {path.relative_to(home)}"] = path.read_bytes()
    return {place: occurrences(data, plaintexts) for place, data in places.items()}


def db_rows(server: PrefectServer, plaintexts: list[str]) -> dict[str, int]:
    """Rows of the server's database, per table, that hold one of the plaintexts."""
    connection = sqlite3.connect(f"file:{server.home / 'prefect.db'}?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        counts: dict[str, int] = {}
        for table in tables:
            found = 0
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                cells = " ".join(
                    cell.decode("utf-8", "replace") if isinstance(cell, bytes) else str(cell)
                    for cell in row
                )
                found += any(text in cells for text in plaintexts)
            if found:
                counts[table] = found
        return counts
    finally:
        connection.close()


def report(title: str, counts: dict[str, int], rows: dict[str, int]) -> str:
    output = sum(n for place, n in counts.items() if place.startswith("subprocess"))
    files = sum(n for place, n in counts.items() if not place.startswith("subprocess"))
    lines = [f"{title}: {output} in output, {files} in PREFECT_HOME files, db rows {rows}"]
    lines += [f"    {n:4d}  {place}" for place, n in counts.items() if n]
    return "\n".join(lines)


# --- the test -------------------------------------------------------------------------------------


def test_no_secret_leaves_the_process_and_plain_prefect_leaks_them(
    prefect_server: PrefectServer,
    make_secrets: Callable[[], Secrets],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The control first: plain Prefect, its own values.
    plain = make_secrets()
    plain_run = run_leak_flow("plain", plain, prefect_server, tmp_path, marker="marker-plain")
    wait_until_recorded(prefect_server, plain_run, "marker-plain")
    plain_counts = count_in_places(plain_run, prefect_server, plain.plaintexts)
    plain_rows = db_rows(prefect_server, plain.plaintexts)

    secrets = make_secrets()
    run = run_leak_flow("library", secrets, prefect_server, tmp_path, marker="marker-library")
    recorded = wait_until_recorded(prefect_server, run, "marker-library")
    counts = count_in_places(run, prefect_server, secrets.plaintexts)
    rows = db_rows(prefect_server, secrets.plaintexts)

    with capsys.disabled():
        print("\n" + report("plain Prefect (control)", plain_counts, plain_rows))
        print(report("prefect-secrets", counts, rows))

    # The control proves the scanner sees leaks in the output and in the database.
    assert sum(n for p, n in plain_counts.items() if p.startswith("subprocess")) > 0
    assert sum(n for p, n in plain_counts.items() if p.startswith("server home")) > 0
    assert plain_rows, "plain Prefect left no database row with a plaintext"
    assert plain_run.downstream_received_real_values

    # With the library: nowhere, and the values were masked (not dropped) on the way.
    leaks = {place: n for place, n in counts.items() if n}
    assert leaks == {}, f"plaintexts found (places and counts): {leaks}"
    assert rows == {}
    assert MASK in recorded.failed_state_message
    assert MASK in recorded.subflow_parameters
    assert MASK in recorded.failed_task_events
    assert sum(MASK in message for message in recorded.log_messages) >= EXPECTED_MARKED_LOGS
    assert MASK.encode() in run.result.stderr
    # ...and masking changed nothing for the code: downstream tasks and the
    # subflow received the real values.
    assert run.downstream_received_real_values
