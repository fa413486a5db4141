"""The example flows run as a user runs them: `python flows/<name>.py`, nothing set up.

Checks on output that could hold a demo value are computed into booleans
(or counts) first, so that a failure never prints one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLOWS = Path(__file__).parent.parent / "flows"
MASK = "********"


def run_flow(name: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PREFECT", "XDG_"))
    }
    env["HOME"] = str(home)
    # Prefect's temporary server otherwise logs "database is locked" tracebacks from
    # its telemetry service (unrelated to the flows, and noisy in failure output).
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return subprocess.run(
        [sys.executable, str(FLOWS / name)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )


def leaked(result: subprocess.CompletedProcess[str], values: list[str]) -> list[int]:
    """How often each value appears in the output (counts, so a failure shows no value)."""
    output = result.stdout + result.stderr
    return [output.count(value) for value in values]


def test_quickstart_reads_every_source_and_says_where_each_came_from(home: Path) -> None:
    result = run_flow("quickstart.py", home)
    output = result.stdout + result.stderr
    # Demo values only: safe to show when the run fails.
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "from context: context.secrets['DEMO_SESSION_KEY']" in out
    assert "from env var PREFECT__CONTEXT__SECRETS__DEMO_API_TOKEN" in out
    assert "[context.secrets] DEMO_WAREHOUSE" in out
    assert "(Prefect's temporary server) block 'secret/demo-slack-webhook'" in out
    assert "The tasks received the real values: True" in out
    demo_values = [
        "fake-token-from-env",
        "fake-password-from-file",
        "fake-session-key",
        "hooks.example",
        "etl_loader",
    ]
    assert leaked(result, demo_values) == [0] * len(demo_values)
    # The careless task logs, masked on the console and as the server stored them.
    as_expected = f"calling https://api.example.invalid with token {MASK}" in result.stderr
    assert as_expected
    stored = out.split("What the Prefect server stored", 1)[-1]
    as_expected = f"connecting as {MASK} with password {MASK}" in stored
    assert as_expected
    as_expected = f"posting to {MASK} (session '{MASK}')" in stored
    assert as_expected
    assert "Task run 'secret-DEMO_API_TOKEN'" in output
    assert not (home / ".prefect").exists(), "the quickstart must not touch ~/.prefect"


def test_etl_flow_loads_a_report_with_masked_credentials(home: Path) -> None:
    result = run_flow("etl.py", home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Revenue by region:" in result.stdout
    assert "north    220.00" in result.stdout  # 120.5 + 99.5: the query ran on the warehouse
    assert "south     80.00" in result.stdout
    assert "west      42.25" in result.stdout
    demo_values = ["fake-warehouse-password", "fake-report-api-token", "etl_loader"]
    assert leaked(result, demo_values) == [0, 0, 0]
    as_expected = f"connecting with {{'user': '{MASK}', 'password': '{MASK}'}}" in result.stderr
    assert as_expected
    as_expected = f"Authorization: Bearer {MASK}" in result.stderr
    assert as_expected
    assert "Task run 'secret-WAREHOUSE'" in result.stderr
