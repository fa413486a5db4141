"""Masking across `ProcessPoolTaskRunner` (prefect_secrets/_masking/workers.py).

A flow on a process pool, run in a subprocess against the session's real server
(tests/support/process_pool_flows.py), has a task in a spawned worker obtain a value
and return it, while the parent has registered none, and logs and prints it; then it
passes a value it obtained to a task in the worker, which logs and prints that one.
Both must appear only as `********` in the subprocess's stdout and stderr, in the
server's log rows for the run and in the database, while the tasks and the flow still
receive the real values. The same flow with plain Prefect (values read from
`os.environ`) is the control: it shows both values, so the scan can fail.

Each spawned worker imports Prefect (15-30 s on a busy machine): one subprocess per
mode, both run at once. Checks are counts and booleans: a failure never shows a value.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from prefect_secrets._masking import workers
from prefect_secrets._masking.arming import HOOK_POINTS
from prefect_secrets._masking.registry import MASK, redact, register, registered_values
from tests.support.leak_runs import flow_env
from tests.support.leak_scan import occurrences
from tests.support.servers import PrefectServer
from tests.test_leak import db_rows

ROOT = Path(__file__).parent.parent
FLOWS = Path(__file__).parent / "support" / "process_pool_flows.py"
HOOK = "workers:install_call_pickling_hooks"
RECORDED_TIMEOUT = 120.0
# Lines with the marker that reach the API: the parent's info and print, the worker's
# info and print.
MARKED_LOGS = 4


# --- the hook point -------------------------------------------------------------------------------


def test_the_hook_point_is_armed() -> None:
    """`prefect.utilities.callables` is hooked once the library hands out its first value."""
    assert HOOK in HOOK_POINTS.get("prefect.utilities.callables", ())


def test_prefect_pickles_calls_and_results_through_the_hooked_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pins Prefect 3.9: `ProcessPoolTaskRunner` sends each task as a
    `cloudpickle_wrapped_call`, and both it and `_run_serialized_call` (in the worker,
    after the task ran) read the module global `cloudpickle` when they pickle.
    Installing twice is a no-op and keeps cloudpickle underneath."""
    import cloudpickle
    from prefect import task_runners
    from prefect.utilities import callables

    submit = task_runners.ProcessPoolTaskRunner._resolve_futures_and_submit.__code__
    assert "cloudpickle_wrapped_call" in submit.co_names
    for function in (callables.cloudpickle_wrapped_call, callables._run_serialized_call):
        assert {"cloudpickle", "dumps"} <= set(function.__code__.co_names)

    monkeypatch.setattr(callables, "cloudpickle", cloudpickle)
    workers.install_call_pickling_hooks(callables)
    proxy = callables.cloudpickle
    workers.install_call_pickling_hooks(callables)
    assert callables.cloudpickle is proxy
    assert getattr(proxy, "_prefect_secrets_masking", False)
    assert proxy.__wrapped__ is cloudpickle
    assert proxy.loads is cloudpickle.loads


def test_a_pickled_call_carries_every_registered_value(
    fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call Prefect sends to a worker holds the values (in the pickled bytes only),
    and runs there as it would without them."""
    import cloudpickle
    from prefect.utilities import callables

    value = fake("sent")
    register(value)
    monkeypatch.setattr(callables, "cloudpickle", cloudpickle)
    workers.install_call_pickling_hooks(callables)
    call = callables.cloudpickle_wrapped_call(sorted, [3, 1, 2], reverse=True)
    payload = call.args[0]
    carried = value.encode() in payload
    assert carried
    assert cloudpickle.loads(call()) == [3, 2, 1]


def test_a_result_registers_its_values_where_it_is_unpickled(fake: Callable[[str], str]) -> None:
    """The parent's unpickling of a worker's result registers the values it carries."""
    import cloudpickle

    value = fake("returned")
    result = {"state": "Completed"}
    payload = cloudpickle.dumps(workers._WithValues(result, frozenset({value})))
    known_before = value in registered_values()
    assert not known_before
    assert cloudpickle.loads(payload) == result
    masked = redact(f"got {value}") == f"got {MASK}"
    assert masked


def test_a_failed_registration_never_breaks_the_task_run(
    fake: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The result still comes back; the error is logged, naming no value."""
    import cloudpickle

    value = fake("unlucky")

    def broken(values: object) -> None:
        raise RuntimeError(f"cannot register {value}")

    monkeypatch.setattr(workers, "register_many", broken)
    payload = cloudpickle.dumps(workers._WithValues("the state", frozenset({value})))
    with caplog.at_level(logging.ERROR, logger="prefect_secrets"):
        assert cloudpickle.loads(payload) == "the state"
    logged = caplog.text
    assert "RuntimeError" in logged
    leaked = value in logged
    assert not leaked


# --- real flows on a process pool -----------------------------------------------------------------


@dataclass
class PoolRun:
    stdout: bytes
    stderr: bytes
    flow_run_id: str
    worker_received: bool
    parent_received: bool


def run_pool_flow(
    mode: str, server: PrefectServer, workdir: Path, names: tuple[str, str], values: tuple[str, str]
) -> PoolRun:
    home = workdir / f"{mode}-home"
    home.mkdir()
    # A fresh HOME: no Prefect 1 file to read either way.
    env = flow_env(
        home,
        workdir / f"{mode}-prefect-home",
        server,
        POOL_FLOWS_MODE=mode,
        IN_SHA256=_digest(values[0]),
        OUT_SHA256=_digest(values[1]),
    )
    for name, value in zip(names, values, strict=True):
        env[f"PREFECT__CONTEXT__SECRETS__{name}"] = value
    completed = subprocess.run(
        [sys.executable, str(FLOWS), *names, f"marker-{mode}"],
        env=env,
        cwd=home,
        capture_output=True,
        timeout=600,
    )
    # Never show the output itself: in the control it holds the plaintexts.
    assert completed.returncode == 0, f"pool flow ({mode}) exited with {completed.returncode}"
    lines = [line for line in completed.stdout.decode().splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"pool flow ({mode}) printed no RESULT line"
    flow_run_id, worker_received, parent_received = lines[0].split()[1:]
    return PoolRun(
        completed.stdout,
        completed.stderr,
        flow_run_id,
        worker_received == "True",
        parent_received == "True",
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def marked_logs(server: PrefectServer, run: PoolRun, marker: str) -> list[str]:
    """The run's log messages that carry the marker, once the server has all of them."""
    deadline = time.monotonic() + RECORDED_TIMEOUT
    found: list[str] = []
    with httpx.Client(base_url=server.api_url + "/", timeout=10) as api:
        while time.monotonic() < deadline:
            logs = api.post(
                "logs/filter", json={"logs": {"flow_run_id": {"any_": [run.flow_run_id]}}}
            ).json()
            found = [log["message"] for log in logs if marker in log["message"]]
            if len(found) >= MARKED_LOGS:
                return found
            time.sleep(0.5)
    raise AssertionError(f"the server recorded {len(found)} of {MARKED_LOGS} logs in time")


def test_values_are_masked_in_and_out_of_process_pool_workers(
    server: PrefectServer,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A value returned by a worker to a parent that had registered none, and a value
    passed into a worker, are masked everywhere; plain Prefect shows both."""
    names = (unique_name("POOL_IN"), unique_name("POOL_OUT"))
    ours = (fake("pool-in"), fake("pool-out"))
    control = (fake("pool-in"), fake("pool-out"))
    with ThreadPoolExecutor(2) as pool:
        library_run = pool.submit(run_pool_flow, "library", server, tmp_path, names, ours)
        plain_run = pool.submit(run_pool_flow, "plain", server, tmp_path, names, control)
        run, plain = library_run.result(), plain_run.result()

    # The control: plain Prefect prints and ships both values, and got them.
    plain_logs = "\n".join(marked_logs(server, plain, "marker-plain")).encode()
    plain_output = plain.stdout + plain.stderr
    assert [occurrences(plain_output, [value]) > 0 for value in control] == [True, True]
    assert [occurrences(plain_logs, [value]) > 0 for value in control] == [True, True]
    assert plain.worker_received
    assert plain.parent_received

    # With the library: the value passed in (worker's output) and the value returned
    # (parent's output) are nowhere, and were masked rather than dropped...
    logs = marked_logs(server, run, "marker-library")
    output = run.stdout + run.stderr
    assert [occurrences(output, [value]) for value in ours] == [0, 0]
    assert [occurrences("\n".join(logs).encode(), [value]) for value in ours] == [0, 0]
    assert db_rows(server, list(ours)) == {}
    assert sum(MASK in message for message in logs) == MARKED_LOGS
    assert run.stderr.count(MASK.encode()) >= MARKED_LOGS
    # ...and the task in the worker and the flow in the parent received the real values.
    assert run.worker_received
    assert run.parent_received


def test_a_value_registered_by_two_threads_at_once_is_masked_for_both() -> None:
    """The race a process-pool result exposed: two threads unpickle the same result (the
    future's callback and `.result()`); the second saw the value registered and went on
    logging while the first was still arming the hooks. Now the value is registered only
    once the hooks are in place. In a fresh process (arming happens once per process)."""
    code = (
        "import threading, time\n"
        "from prefect_secrets._masking import registry\n"
        "import prefect_secrets._masking.arming as arming\n"
        "def slow_arm():\n"
        "    time.sleep(0.5)\n"
        "    return arming.arm()\n"
        "registry.on_first_value(slow_arm)\n"
        "first = threading.Thread(target=registry.register, args=('fake-race-value-1',))\n"
        "first.start()\n"
        "time.sleep(0.1)\n"
        "registry.register('fake-race-value-1')\n"
        "print('ARMED', registry._armed)\n"
        "first.join()\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "ARMED True" in completed.stdout
