"""Progress on stderr for long commands, and Ctrl-C between two secrets (exit 130)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets.sources import SecretKey
from tests.support.servers import CountingProxy, PrefectServer

CLI = [sys.executable, "-m", "prefect_secrets"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def prefect1_file(tmp_path: Path) -> Path:
    path = tmp_path / "prefect1.toml"
    lines = [f'P1_NAME_{i} = "fake-p1-value-{i}"' for i in range(5)]
    path.write_text("[context.secrets]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def test_progress_when_forced_names_and_counts_only(prefect1_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_SECRETS_CONFIG": str(tmp_path / "config.toml")}
    done = run("import-prefect1", str(prefect1_file), "--apply", "--progress", env=env)
    assert done.returncode == 0, done.stderr
    assert "5/5" in done.stderr
    assert "fake-p1-value" not in done.stdout + done.stderr
    names = tomllib.loads((tmp_path / "config.toml").read_text())["context"]["secrets"]
    assert sorted(names) == [f"P1_NAME_{i}" for i in range(5)]


def test_no_progress_on_a_pipe_by_default(prefect1_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_SECRETS_CONFIG": str(tmp_path / "config.toml")}
    done = run("import-prefect1", str(prefect1_file), "--apply", env=env)
    assert done.returncode == 0, done.stderr
    assert "/5" not in done.stderr
    assert "\x1b" not in done.stderr


def test_ls_shows_which_source_is_listed(proxy: CountingProxy, tmp_path: Path) -> None:
    proxy.delay = 0.3
    env = {
        **os.environ,
        "PREFECT_API_URL": proxy.url + "/api",
        "PREFECT_SECRETS_CONFIG": str(tmp_path / "config.toml"),
    }
    done = run("ls", "--progress", env=env)
    assert done.returncode == 0, done.stderr
    assert "Listing server" in done.stderr


def test_ctrl_c_mid_import_leaves_a_valid_file_and_says_what_was_written(
    server: PrefectServer, proxy: CountingProxy, tmp_path: Path
) -> None:
    """A slow server (each request delayed); SIGINT once some secrets are written: the
    file is valid TOML holding exactly the first k names, and the output says k."""
    stem = f"ctrlc-{secrets.token_hex(3)}"
    names = [f"{stem}-{i:02d}" for i in range(12)]
    config = SourceConfig()
    store = source_of_kind("server", config)
    for name in names:
        store.write(SecretKey(name), f"fake-ctrlc-value-{name}", config)
    proxy.delay = 0.4
    target = tmp_path / "config.toml"
    env = {
        **os.environ,
        "PREFECT_API_URL": proxy.url + "/api",
        "PREFECT_SECRETS_CONFIG": str(target),
    }
    child = subprocess.Popen(
        [*CLI, "import", "--from", "server", "--to", "file", *names, "--apply"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if target.exists() and len(_written(target)) >= 2:
            break
        time.sleep(0.05)
    else:
        child.kill()
        pytest.fail("the import wrote nothing in time")
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    written = _written(target)
    assert 2 <= len(written) < len(names)
    assert written == names[: len(written)]  # a prefix, in order: each write whole
    assert f"interrupted: {len(written)} secret(s) written" in " ".join(stderr.split())
    assert "fake-ctrlc-value" not in stdout + stderr


def _written(path: Path) -> list[str]:
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("context", {}).get("secrets", {})
    return list(table)
