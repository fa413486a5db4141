"""Every Python block of the README runs as written, so that the README cannot drift.

Each block runs in its own process, as a user pastes it into a file: with fake
values for the secrets it names (env vars), the session's real Prefect server
as PREFECT_API_URL, and a stand-in for the one placeholder the README uses, the
user's own `service-cli`. Nothing a block prints may hold a value.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import PrefectServer

README = Path(__file__).parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Secret names in the blocks: quoted, upper case, as the README writes them.
_NAME = re.compile(r"""["']([A-Z][A-Z0-9_]+)["']""")
# Values whose shape the blocks rely on (a dict with "user", a port number).
_SHAPED = {
    "SNOWFLAKE": json.dumps({"user": "fake-readme-user", "password": "fake-readme-snowflake"}),
    "API_PORT": "8443",
    "WAREHOUSE_PORT": "5439",
}
_NOT_SECRETS = {"SERVICE_API_KEY", "TEAM_SECRETS_FILE"}


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_examples() -> None:
    assert len(python_blocks()) >= 5


@pytest.fixture
def service_cli(tmp_path: Path) -> Path:
    """The README's placeholder for the user's own tool: succeeds when the key is injected."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "service-cli"
    tool.write_text('#!/bin/sh\ntest -n "$SERVICE_API_KEY"\n')
    tool.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_each_python_block_runs_as_written(
    index: int, prefect_server: PrefectServer, tmp_path: Path, service_cli: Path
) -> None:
    block = python_blocks()[index]
    names = sorted(set(_NAME.findall(block)) - _NOT_SECRETS)
    values = {name: _SHAPED.get(name, f"fake-readme-{name.lower()}") for name in names}
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(block, encoding="utf-8")
    home = tmp_path / "home"  # the autouse fixture's fresh HOME
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT", "XDG_"))}
    env.update(
        HOME=str(home),
        PATH=f"{service_cli}{os.pathsep}{env.get('PATH', '')}",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SECRETS_PREFECT1_CONFIG="",
        **{f"PREFECT__CONTEXT__SECRETS__{name}": value for name, value in values.items()},
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    first_line = block.strip().splitlines()[0]
    assert result.returncode == 0, (
        f"README block {index} ({first_line!r}) failed:\n{result.stderr[-3000:]}"
    )
    shown = result.stdout + result.stderr
    leaked = [name for name, value in values.items() if value.startswith("fake") and value in shown]
    assert leaked == [], f"README block {index} printed the value of {leaked}"
