"""The example flows run as a user runs them: `python flows/<name>.py`, nothing set up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLOWS = Path(__file__).parent.parent / "flows"


def run_flow(name: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PREFECT", "XDG_"))
    }
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, str(FLOWS / name)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quickstart_reads_every_source_and_says_where_each_came_from(home: Path) -> None:
    result = run_flow("quickstart.py", home)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "from context: context.secrets['DEMO_SESSION_KEY']" in out
    assert "from env var PREFECT__CONTEXT__SECRETS__DEMO_API_TOKEN" in out
    assert "[context.secrets] DEMO_WAREHOUSE" in out
    assert "(Prefect's temporary server) block 'secret/demo-slack-webhook'" in out
    for demo_value in (
        "fake-token-from-env",
        "fake-password-from-file",
        "fake-session-key",
        "hooks.example",
    ):
        assert demo_value not in out + result.stderr
    assert not (home / ".prefect").exists(), "the quickstart must not touch ~/.prefect"
