"""Rotation pushed, not polled: the server's block events drop cached answers
(`prefect_secrets._server.push`), against the session's real `prefect server start`.

Every test caches with a TTL far longer than it waits, so a new value seen in time can
only come from a pushed invalidation; the test with push turned off shows the same
wait does not see it.

The session's server runs this environment's Prefect. A server before Prefect 3.7.4
emits no block events (`prefect_secrets._server.release`): there each test checks what
the library promises instead, that it does not subscribe, says why, and leaves answers
to their TTL (`.ci/older-prefect` runs this file on such a release).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_secrets import Secret, SecretSourceError
from tests.support.cli import run_cli
from tests.support.push_reader import fingerprint, server_cannot_push
from tests.support.servers import PrefectServer, TcpProxy

LONG_TTL = "600"
#: Why the session's server cannot push (its release is before 3.7.4), or None: it can.
PUSH_OFF = server_cannot_push()


def _push_threads() -> list[threading.Thread]:
    from prefect_secrets._server.push import PUSH_THREAD_PREFIX

    return [t for t in threading.enumerate() if t.name.startswith(PUSH_THREAD_PREFIX)]


def _wait_for(read: Callable[[], Any], wanted: Any, seconds: float) -> float | None:
    """Seconds until `read()` returns `wanted`, or None if it never did within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if read() == wanted:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def _connected(seconds: float) -> tuple[bool, int]:
    from prefect_secrets._server.endpoint import current_endpoint
    from prefect_secrets._server.push import push_status

    return push_status(current_endpoint(), wait=seconds)


def _assert_push_is_off_and_says_why() -> None:
    """On a server before 3.7.4: the subscriber asked the release, gave up with the reason
    (the release, and the first one with block events), and its thread has ended."""
    import prefect

    from prefect_secrets._server.endpoint import current_endpoint
    from prefect_secrets._server.push import push_off_reason

    reason = push_off_reason(current_endpoint(), wait=30)
    assert reason is not None, f"push was not turned off against Prefect {prefect.__version__}"
    assert prefect.__version__ in reason
    assert "3.7.4" in reason
    assert "cache_ttl" in reason
    assert _wait_for(lambda: _push_threads() == [], True, 10) is not None
    assert _connected(0) == (False, 0)


def test_the_release_the_server_reports_decides_whether_it_can_push(server: PrefectServer) -> None:
    import prefect

    from prefect_secrets._server.endpoint import current_endpoint
    from prefect_secrets._server.release import block_events_missing, server_release

    assert server_release(current_endpoint(), timeout=10) == prefect.__version__
    assert block_events_missing(prefect.__version__) == PUSH_OFF


@pytest.mark.parametrize(
    ("release", "pushes"),
    [
        ("3.6.29", False),
        ("3.7.3", False),
        ("3.7.4rc1", True),  # a pre-release is taken as its release
        ("3.7.4", True),
        ("3.7.4.dev3+g1234abc", True),
        ("3.10.0", True),
        ("4.0.0", True),
        ("2.20.0", False),
        ("not a release", True),  # unknown: the subscriber tries, and falls back on failure
    ],
)
def test_which_releases_can_push(release: str, pushes: bool) -> None:
    from prefect_secrets._server.release import block_events_missing

    reason = block_events_missing(release)
    assert (reason is None) is pushes
    if reason is not None:
        assert f"Prefect {release[:6]}" in reason
        assert "3.7.4" in reason


@pytest.fixture(autouse=True)
def no_subscriber_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """On here (the default for users; conftest turns it off for the other modules, which
    count requests and time TTLs), and stopped after each test."""
    monkeypatch.setenv("PREFECT_SECRETS_PUSH_INVALIDATION", "true")
    yield
    from prefect_secrets._server.push import stop_watching

    stop_watching()
    assert _push_threads() == []


@pytest.fixture
def long_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", LONG_TTL)


def test_a_rotation_by_another_writer_is_seen_long_before_the_ttl(
    server: PrefectServer,
    long_ttl: None,
    save_block: Callable[[str, Any], None],
    fake: Callable[[str], str],
) -> None:
    old, new = fake("push-old"), fake("push-new")
    save_block("push-rotated", old)
    secret = Secret("PUSH_ROTATED")
    assert secret.get() == old
    assert secret.get() == old  # from the cache: the subscriber starts here
    if PUSH_OFF is not None:
        _assert_push_is_off_and_says_why()
        save_block("push-rotated", new)
        assert _wait_for(secret.get, new, 3) is None, "an answer outlived nothing but its TTL"
        return
    connected, _ = _connected(30)
    assert connected, "the push subscriber did not connect to the server"
    save_block("push-rotated", new)  # Prefect's own API: this process's cache is not told
    assert _wait_for(secret.get, new, 20) is not None, "the rotation was not pushed"


def test_with_push_off_the_cached_answer_lasts_its_ttl(
    server: PrefectServer,
    long_ttl: None,
    monkeypatch: pytest.MonkeyPatch,
    save_block: Callable[[str, Any], None],
    fake: Callable[[str], str],
) -> None:
    """The control of the test above: the same wait, push turned off, nothing seen. A
    subprocess, so that no subscriber started by another test answers for it."""
    old, new = fake("nopush-old"), fake("nopush-new")
    save_block("push-off", old)
    code = (
        "import sys, time, threading\n"
        "from prefect_secrets import Secret\n"
        "from prefect_secrets._server.push import PUSH_THREAD_PREFIX\n"
        "from tests.support.push_reader import fingerprint\n"
        "s = Secret('PUSH_OFF'); s.get(); s.get()\n"
        "print('go', flush=True); sys.stdin.readline()\n"
        "time.sleep(8)\n"
        "print(fingerprint(s.get()))\n"
        "print(any(t.name.startswith(PUSH_THREAD_PREFIX) for t in threading.enumerate()))\n"
    )
    env = {**os.environ, "PREFECT_SECRETS_PUSH_INVALIDATION": "false"}
    reader = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert reader.stdout is not None
    assert reader.stdin is not None
    assert reader.stdout.readline().strip() == "go"
    save_block("push-off", new)
    reader.stdin.write("\n")
    reader.stdin.flush()
    out, _ = reader.communicate(timeout=60)
    assert out.split() == [fingerprint(old), "False"]


def test_a_process_that_reads_each_secret_once_opens_no_subscription(
    server: PrefectServer, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    """A fleet's flow runs resolve and exit: no websocket, no thread. The second read of
    a cached answer starts one, and a daemon thread does not hold the process up."""
    save_block("push-once-a", fake("once-a"))
    save_block("push-once-b", fake("once-b"))
    code = (
        "import threading, time\n"
        "from prefect_secrets import Secret, get_many\n"
        "from prefect_secrets._server.endpoint import current_endpoint\n"
        "from prefect_secrets._server.push import PUSH_THREAD_PREFIX, push_off_reason\n"
        "def threads(): return sum(t.name.startswith(PUSH_THREAD_PREFIX)"
        " for t in threading.enumerate())\n"
        "get_many(['PUSH_ONCE_A']); Secret('PUSH_ONCE_B').get()\n"
        "print(threads())\n"
        "Secret('PUSH_ONCE_A').get()\n"
        "off = push_off_reason(current_endpoint(), wait=30)\n"
        "print('off' if off else threads())\n"
    )
    # A daemon thread, stopped at exit: the process ends (within the timeout) and cleanly
    # (a thread still running at finalization can abort it: SIGABRT).
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "1" if PUSH_OFF is None else "off"]


def test_a_cli_write_is_seen_by_another_process(
    server: PrefectServer,
    long_ttl: None,
    tmp_path: Path,
    fake: Callable[[str], str],
) -> None:
    old, new = fake("cli-old"), fake("cli-new")
    assert run_cli("set", "PUSH_CLI", "--server", stdin=old + "\n").code == 0
    out = tmp_path / "reader.log"
    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.support.push_reader", str(out), "PUSH_CLI"]
    )
    try:
        assert _wait_for(lambda: out.exists() and out.read_text().startswith("ready"), True, 60)
        ready = out.read_text().splitlines()[0]
        assert ready == ("ready True" if PUSH_OFF is None else "ready off")
        written = run_cli("set", "PUSH_CLI", "--server", "--yes", stdin=new + "\n")
        assert written.code == 0, written.output
        waited = 20 if PUSH_OFF is None else 3
        seen = _wait_for(lambda: out.read_text().split()[-1], fingerprint(new), waited)
        if PUSH_OFF is not None:
            assert seen is None, "without block events, the reader's answer lasts its TTL"
        else:
            assert seen is not None, "the reader never saw the CLI's write"
    finally:
        (tmp_path / "reader.log.stop").touch()
        reader.wait(timeout=30)


@pytest.fixture
def through_proxy(server: PrefectServer) -> Iterator[TcpProxy]:
    """This process talks to the server through a TCP proxy that can go down."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    proxy = TcpProxy(("127.0.0.1", int(server.api_url.split(":")[2].split("/")[0])))
    try:
        with temporary_settings(updates={PREFECT_API_URL: proxy.url + "/api"}):
            yield proxy
    finally:
        proxy.close()


def test_disconnected_it_falls_back_to_the_ttl_and_reconnects_with_backoff(
    server: PrefectServer,
    through_proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
    long_ttl: None,
    save_block: Callable[[str, Any], None],
    fake: Callable[[str], str],
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def save_directly(value: str) -> None:  # not through the proxy: it is down at times
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            save_block("push-disconnect", value)

    first, second, third = fake("dc-1"), fake("dc-2"), fake("dc-3")
    save_directly(first)
    secret = Secret("PUSH_DISCONNECT")
    assert secret.get() == first
    assert secret.get() == first
    if PUSH_OFF is None:
        assert _connected(30) == (True, 1)
    else:
        _assert_push_is_off_and_says_why()

    through_proxy.down()
    assert _wait_for(lambda: _connected(0)[0], False, 10) is not None
    save_directly(second)  # missed: nobody is listening
    # Disconnected, an answer lives no longer than the TTL: with a TTL of 1 s, the cached
    # answer is not served, and the server cannot be reached.
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "1")
    time.sleep(1.2)
    with pytest.raises(SecretSourceError):
        secret.get()
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", LONG_TTL)

    through_proxy.up()
    if PUSH_OFF is not None:  # no subscriber: only the TTL brings the missed write in
        assert _wait_for(secret.get, second, 3) is None
        monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "1")
        assert _wait_for(secret.get, second, 10) is not None
        return
    # Backoff: 0.5 s doubling, so it is back within seconds; the reconnection drops what
    # was cached meanwhile, and pushes flow again.
    assert _wait_for(lambda: _connected(0), (True, 2), 40) is not None
    assert _wait_for(secret.get, second, 10) is not None
    save_directly(third)
    assert _wait_for(secret.get, third, 20) is not None
