"""Running the installed `prefect-secrets` command as users run it: a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "prefect-secrets"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Result:
    """Run the installed `prefect-secrets` in a subprocess, in this test's environment
    (the isolated HOME etc. are in os.environ, set by the autouse fixture)."""
    process = subprocess.run(
        [str(SCRIPT), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    return Result(process.returncode, process.stdout, process.stderr)


def assert_one_line_error(result: Result, code: int) -> None:
    assert result.code == code, result
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
