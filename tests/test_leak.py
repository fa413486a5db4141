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

import sqlite3

import pytest

from tests.support.leak_runs import EXPECTED_MARKED_LOGS, MASK, LeakRuns, Run
from tests.support.leak_scan import files_under, occurrences
from tests.support.servers import PrefectServer

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
    prefect_server: PrefectServer, leak_runs: LeakRuns, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, plain_run = leak_runs.plain_secrets, leak_runs.plain
    plain_counts = count_in_places(plain_run, prefect_server, plain.plaintexts)
    plain_rows = db_rows(prefect_server, plain.plaintexts)
    secrets, run, recorded = leak_runs.secrets, leak_runs.run, leak_runs.recorded
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
