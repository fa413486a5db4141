"""The hooks added for every way out: logging extras on any handler, the process's
streams, data Prefect would store, and messages Prefect truncates. Each test names the
object it relies on; if a Prefect or Python release moves it, the test fails with the
hook's name and the version. Checks on output are booleans first: a failure never
prints a value."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import SecretStorageRefused
from prefect_secrets._masking.registry import MASK, register
from tests.support.servers import PrefectServer

ROOT = Path(__file__).parent.parent


@pytest.fixture
def secret(fake: Callable[[str], str]) -> str:
    value = fake("hooked")
    register(value)
    return value


def prefect_version() -> str:
    import prefect

    return str(prefect.__version__)


# --- logging extras -----------------------------------------------------------------------------


def test_extras_are_masked_on_a_handler_of_the_users_own_logger(
    secret: str, tmp_path: Path
) -> None:
    """Hook: `logging.Logger.makeRecord` (extras are set after the record factory ran)."""
    audit = tmp_path / "etl-audit.log"
    handler = logging.FileHandler(audit)
    handler.setFormatter(logging.Formatter("%(message)s conn=%(conn)s headers=%(headers)s"))
    logger = logging.getLogger("tests.etl.audit")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(
            "connected",
            extra={"conn": f"postgresql://etl:{secret}@db/wh", "headers": {"auth": secret}},
        )
        logger.warning("rows", extra={"tokens": [secret, "x"]})
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = audit.read_text()
    leaked = secret in text
    assert not leaked, f"Logger.makeRecord extras not masked (Python {sys.version_info[:2]})"
    assert f"conn=postgresql://etl:{MASK}@db/wh" in text
    assert f"'auth': '{MASK}'" in text


def test_prefects_json_formatter_prints_extras_and_unused_arguments_masked(secret: str) -> None:
    """Prefect's JSON console formatter prints `record.__dict__`: extras and a mapping
    argument's keys the message does not use included."""
    from prefect.logging.formatters import JsonFormatter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("default", None, "%"))
    logger = logging.getLogger("tests.json_console")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.info("user %(user)s", {"user": "etl", "password": secret})
        logger.info("call", extra={"headers": {"Authorization": f"Bearer {secret}"}})
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    leaked = secret in text or json.dumps(secret) in text
    assert not leaked, f"JsonFormatter output not masked (Prefect {prefect_version()})"
    assert MASK in text


# --- streams ------------------------------------------------------------------------------------

STREAMS_SCRIPT = """
import sys, threading, traceback, warnings
from prefect_secrets import Secret
value = Secret("STREAM_SECRET").get()
print("print:", value)
print(f"f-string print: {value}")
sys.stdout.writelines([f"writelines: {value}\\n"])
warnings.warn(f"slow login with {value}")
try:
    raise ConnectionError(f"cannot reach postgresql://etl:{value}@db")
except ConnectionError:
    traceback.print_exc()
threading.Thread(target=lambda: 1 / 0 if value else None).start()
raise RuntimeError(f"uncaught: {value!r}")
"""


def run_streams_script(tmp_path: Path, value: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", STREAMS_SCRIPT],
        env={**os.environ, "PREFECT__CONTEXT__SECRETS__STREAM_SECRET": value, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_print_warnings_and_tracebacks_are_masked(
    tmp_path: Path, fake: Callable[[str], str]
) -> None:
    """Hook: `sys.stdout` and `sys.stderr`, replaced by masking proxies once a value is
    handed out: `print`, `warnings.warn`, `traceback.print_exc`, uncaught exceptions
    (in the main thread and in others)."""
    value = fake("stream")
    result = run_streams_script(tmp_path, value)
    assert result.returncode == 1  # the script ends with an uncaught exception
    leaked = value in result.stdout or value in result.stderr
    assert not leaked, "sys.stdout/sys.stderr not masked"
    assert result.stdout.count(MASK) == 3
    for shown in ("UserWarning: slow login with", "ConnectionError: cannot reach", "RuntimeError"):
        assert shown in result.stderr
    assert result.stderr.count(MASK) >= 3


def test_the_stream_hook_can_be_turned_off(tmp_path: Path, fake: Callable[[str], str]) -> None:
    value = fake("stream-off")
    result = run_streams_script(tmp_path, value, PREFECT_SECRETS_MASK_STREAMS="false")
    shown = value in result.stdout
    assert shown  # off means off: the user chose to see what print() writes


CHILDREN_SCRIPT = """
import os, subprocess, sys
from prefect_secrets import Secret
value = Secret("CHILD_SECRET").get()
os.environ["PGPASSWORD"] = value
print("before the children", flush=True)
sys.stdout.buffer.write(b"buffer: " + value.encode() + b"\\n")
sys.stdout.flush()
shown = subprocess.run(["sh", "-c", 'echo "pg_dump: password=$PGPASSWORD"; exit 3'])
print("exit code", shown.returncode, flush=True)
subprocess.run(["sh", "-c", 'echo "to stderr: $PGPASSWORD" >&2'])
status = os.system('echo "os.system: $PGPASSWORD"; exit 2')
print("os.system status", status, flush=True)
captured = subprocess.run(["sh", "-c", 'printf %s "$PGPASSWORD"'], capture_output=True, text=True)
print("captured intact", captured.stdout == value, flush=True)
"""


def test_what_child_processes_print_is_masked_and_what_code_captures_is_not(
    tmp_path: Path, fake: Callable[[str], str]
) -> None:
    """Hook: `subprocess.Popen.__init__` and `_wait` (a child's inherited stdout/stderr
    become a masking relay), `os.system`, and `sys.stdout.buffer`. What the code captures
    itself (`capture_output=True`) is data: it is the real value."""
    value = fake("child")
    result = subprocess.run(
        [sys.executable, "-c", CHILDREN_SCRIPT],
        env={**os.environ, "PREFECT__CONTEXT__SECRETS__CHILD_SECRET": value},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    leaked = value in result.stdout or value in result.stderr
    assert not leaked, f"child output not masked (Python {sys.version_info[:2]})"
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines == [
        "before the children",
        f"buffer: {MASK}",
        f"pg_dump: password={MASK}",
        "exit code 3",
        f"os.system: {MASK}",
        "os.system status 512",
        "captured intact True",
    ]
    assert f"to stderr: {MASK}" in result.stderr


def test_children_are_left_alone_when_streams_are_not_masked(
    tmp_path: Path, fake: Callable[[str], str]
) -> None:
    value = fake("child-off")
    result = subprocess.run(
        [sys.executable, "-c", CHILDREN_SCRIPT],
        env={
            **os.environ,
            "PREFECT__CONTEXT__SECRETS__CHILD_SECRET": value,
            "PREFECT_SECRETS_MASK_STREAMS": "false",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    shown = f"pg_dump: password={value}" in result.stdout
    assert shown  # off means off


# --- data Prefect would store and hand back -----------------------------------------------------


def test_a_variable_holding_a_secret_is_refused_not_stored_masked(
    server: PrefectServer, secret: str, unique_name: Callable[[str], str]
) -> None:
    """Hook: `build_request` refuses `POST /variables/` rather than storing `********`."""
    import httpx
    from prefect.variables import Variable

    name = unique_name("dsn").lower()
    with pytest.raises(SecretStorageRefused, match="a Prefect Variable would store") as caught:
        Variable.set(name, f"postgresql://etl:{secret}@db/wh")
    assert secret not in str(caught.value)
    assert "'value'" in str(caught.value)
    stored = httpx.get(f"{server.api_url}/variables/name/{name}", timeout=10)
    assert stored.status_code == 404, f"something was stored (Prefect {prefect_version()})"
    Variable.set(name, "postgresql://etl@db/wh")  # without the secret: stored as usual
    assert Variable.get(name) == "postgresql://etl@db/wh"


def test_what_is_only_shown_is_still_masked_not_refused(secret: str) -> None:
    from prefect.client.base import PrefectHttpxSyncClient

    client = PrefectHttpxSyncClient(base_url="http://127.0.0.1:9/api")
    try:
        request = client.build_request(
            "POST", "/logs/", json=[{"message": f"connected with {secret}"}]
        )
    finally:
        client.close()
    body = request.content.decode()
    leaked = secret in body
    assert not leaked
    assert MASK in body


# --- truncation ---------------------------------------------------------------------------------


def test_a_message_prefect_truncates_is_masked_before_the_cut(secret: str) -> None:
    """Hook: `truncated_to`, where `prefect.utilities.engine` calls it for task run state
    events: a value across the cut would otherwise reach the event as two halves."""
    import prefect.utilities.engine as engine

    half = len(secret) // 2
    message = "x" * (50 - half) + secret + "y" * 200  # the value straddles character 50
    cut = engine.truncated_to(100, message)
    assert getattr(engine.truncated_to, "_prefect_secrets_masking", False), (
        f"prefect.utilities.engine.truncated_to is not hooked (Prefect {prefect_version()})"
    )
    leaked = secret[:half] in cut or secret[half:] in cut
    assert not leaked


# --- the self-test ------------------------------------------------------------------------------


def test_doctor_masking_reports_every_hook_working() -> None:
    from tests.support.cli import run_cli

    result = run_cli("doctor", "--masking")
    assert result.code == 0, result.stdout
    for hook in (
        "log records",
        "log extras",
        "streams",
        "child processes",
        "API requests",
        "API refusals",
        "events",
        "results",
        "process pools",
    ):
        assert f"{hook}: working" in result.stdout
    assert "fake-selftest-" not in result.output


def test_the_self_test_reports_a_hook_a_prefect_release_moved() -> None:
    """Undo one hook, as a Prefect release that renames the function would: reported missing."""
    code = (
        "import prefect.utilities.engine as engine\n"
        "from prefect_secrets._masking.registry import register\n"
        "register('fake-arming-value')\n"
        "engine.truncated_to = engine.truncated_to.__wrapped__\n"
        "from prefect_secrets._masking.selftest import run_selftest\n"
        "print({check.name: check.status for check in run_selftest()})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    statuses = eval(result.stdout.strip().splitlines()[-1])
    assert statuses["truncation"] == "missing"
    assert statuses["log records"] == "working"
