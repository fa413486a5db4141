"""Shared fixtures: an isolated environment per test, one real Prefect server per session."""

from __future__ import annotations

import os
import shutil
import tempfile

# Prefect reads its settings once, when first imported: point it at a
# throwaway home and turn its telemetry off (it logs "database is locked"
# tracebacks otherwise) before any test module imports it.
_SESSION_DIR = tempfile.mkdtemp(prefix="prefect-secrets-tests-")
os.environ["PREFECT_HOME"] = os.path.join(_SESSION_DIR, "client-home")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
for _var in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING", "PREFECT_PROFILE"):
    os.environ.pop(_var, None)

import contextvars  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

# Property tests check values, not speed: hypothesis's 200 ms deadline per example fails
# them on a machine busy with the rest of the suite (a GC pause, the servers' threads).
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")

import prefect_secrets  # noqa: E402
from tests.support.leak_runs import LeakRuns, run_both  # noqa: E402
from tests.support.servers import (  # noqa: E402
    CountingProxy,
    PrefectServer,
    counting_proxy,
    start_prefect_server,
)

# Env vars that change what a lookup sees; removed for every test so that
# the machine's own configuration never leaks in.
_ISOLATED_PREFIXES = ("PREFECT_SECRETS_", "PREFECT__CONTEXT__SECRETS__", "PREFECT__CLOUD__")
_ISOLATED_VARS = ("XDG_CONFIG_HOME", "PREFECT_API_URL", "PREFECT_PROFILES_PATH")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh HOME, no secrets-related env vars, an empty `context.secrets`."""
    for name in list(os.environ):
        if name.startswith(_ISOLATED_PREFIXES) or name in _ISOLATED_VARS:
            monkeypatch.delenv(name)
    # Push invalidation (a websocket and a thread per Prefect API, started at a process's
    # first cached answer) has its own tests (test_push_invalidation.py). Elsewhere, tests
    # count requests and time TTLs: no subscriber unless a test turns it back on.
    monkeypatch.setenv("PREFECT_SECRETS_PUSH_INVALIDATION", "false")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    saved = dict(prefect_secrets.context.secrets)
    prefect_secrets.context.secrets.clear()
    yield home
    prefect_secrets.context.secrets = saved


@pytest.fixture
def home(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture
def default_config_path(home: Path) -> Path:
    """Where the config file is looked for when nothing says otherwise."""
    return home / ".config" / "prefect-secrets" / "config.toml"


@pytest.fixture
def write_config(default_config_path: Path) -> Callable[..., Path]:
    """Write a config file (mode 0600) at the default place, or at `path`."""

    def write(text: str, path: Path | None = None, mode: int = 0o600) -> Path:
        target = path or default_config_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(mode)
        return target

    return write


@pytest.fixture
def fake() -> Callable[[str], str]:
    """Obviously fake secret values, unique per call so a leak is attributable."""

    def make(label: str = "value") -> str:
        return f"fake-{label}-{secrets.token_hex(4)}"

    return make


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Secret names unique per call: tests share one server."""

    def make(stem: str = "SECRET") -> str:
        return f"{stem}_{secrets.token_hex(4).upper()}"

    return make


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """One real `prefect server start` on 127.0.0.1 for the whole session."""
    # With its UI, for tests/test_ui.py: the one server of the session is the one it opens.
    server = start_prefect_server(Path(_SESSION_DIR) / "server", ui=True)
    try:
        yield server
    finally:
        if "prefect.logging.handlers" in sys.modules:
            # Flow runs' logs go to the API from a background worker: let it
            # finish before its server goes away.
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all()
        server.stop()


@pytest.fixture(scope="session")
def leak_runs(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> LeakRuns:
    """The leak flow run once per session with plain Prefect and once with prefect-secrets
    (tests/support/leak_runs.py): the leak test scans what they left, the UI test opens
    their pages."""
    return run_both(prefect_server, tmp_path_factory.mktemp("leak-runs"))


@pytest.fixture
def server(
    prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrefectServer]:
    """Point this process at the session's server, as PREFECT_API_URL does for users."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server


@pytest.fixture
def proxy(server: PrefectServer) -> Iterator[CountingProxy]:
    """The session's server behind a request-counting proxy, which this process uses."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        counting_proxy(server.origin) as counting,
        temporary_settings(updates={PREFECT_API_URL: counting.url + "/api"}),
    ):
        yield counting


@pytest.fixture
def save_block(server: PrefectServer) -> Iterator[Callable[[str, Any], None]]:
    """Save a Prefect `Secret` block the way users do: `Secret(value=...).save(name)`."""
    from prefect.blocks.system import Secret as SecretBlock

    saved: list[str] = []

    def save(block_name: str, value: Any) -> None:
        # Block.save returns a coroutine when called from a running event
        # loop (async tests): save from a plain thread, in this context.
        context = contextvars.copy_context()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                context.run, SecretBlock(value=value).save, block_name, overwrite=True
            ).result()
        saved.append(block_name)

    yield save
    for block_name in saved:
        server.delete_block(block_name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)
