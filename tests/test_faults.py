"""Sick servers: every failure is a SecretSourceError naming the server, within a bounded time.

Real sockets on 127.0.0.1: small HTTP servers that misbehave on purpose, a TCP
proxy that delays, drops or resets connections, and the real Prefect server
stopped and started again. No mocks.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from prefect_secrets import Secret, SecretNotFound, SecretSourceError, get_many
from tests.support.servers import FaultyServer, PrefectServer, TcpProxy, free_port


@contextmanager
def api_url(url: str) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, server: PrefectServer) -> None:
    """Short timeouts, two retries, no cache: each test sees every request."""
    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", "0.5")
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "2")
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "0")
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_MISS_TTL", "0")


@pytest.fixture
def faulty() -> Iterator[Callable[[str], FaultyServer]]:
    started: list[FaultyServer] = []

    def start(behaviour: str) -> FaultyServer:
        started.append(FaultyServer(behaviour))
        return started[-1]

    yield start
    for server in started:
        server.close()


def timed_failure(secret: Secret) -> tuple[SecretSourceError, float]:
    started = time.monotonic()
    with pytest.raises(SecretSourceError) as caught:
        secret.get()
    return caught.value, time.monotonic() - started


@pytest.mark.usefixtures("quick")
def test_refused_connections_are_retried_then_reported() -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"
    with api_url(dead):
        error, elapsed = timed_failure(Secret("ANY"))
    assert dead in str(error)
    assert "after 3 attempts: cannot connect (Connection refused)" in str(error)
    assert elapsed < 3


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("status", ["500", "429"])
def test_transient_statuses_are_retried_a_bounded_number_of_times(
    faulty: Callable[[str], FaultyServer], status: str
) -> None:
    sick = faulty(status)
    with api_url(sick.api_url):
        error, elapsed = timed_failure(Secret("ANY"))
    assert sick.requests == 3
    assert f"Prefect server {sick.api_url}" in str(error)
    assert f"failed after 3 attempts: answered HTTP {status}" in str(error)
    assert elapsed < 3


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("status", ["401", "403"])
def test_refused_access_is_never_retried_and_never_not_found(
    faulty: Callable[[str], FaultyServer], status: str
) -> None:
    sick = faulty(status)
    with api_url(sick.api_url):
        error, _ = timed_failure(Secret("ANY"))
        with pytest.raises(SecretSourceError):
            Secret("ANY").exists()
        with pytest.raises(SecretSourceError):
            get_many(["ANY", "OTHER"])
    assert sick.requests == 3  # one each: get, exists, get_many
    assert f"refused access (HTTP {status})" in str(error)
    assert not isinstance(error, SecretNotFound)


@pytest.mark.usefixtures("quick")
def test_a_hanging_server_times_out_within_the_bound(
    faulty: Callable[[str], FaultyServer],
) -> None:
    sick = faulty("hang")
    with api_url(sick.api_url):
        error, elapsed = timed_failure(Secret("ANY"))
    # The server has the request: it gets the whole budget, 0.5 s x 3 attempts, and is
    # not sent it again (a busy server asked again only has more to do).
    assert "no answer within 1.5 s" in str(error)
    assert sick.requests == 1
    assert 1.5 <= elapsed < 3.5


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("caller", ["sync", "async"])
def test_a_trickling_server_is_cut_off_at_the_total_deadline(
    faulty: Callable[[str], FaultyServer], monkeypatch: pytest.MonkeyPatch, caller: str
) -> None:
    """A byte every 0.1 s: no read waits 0.5 s, so httpx alone would wait for ever. The
    lookup ends at timeout x attempts plus the pauses, in sync and async code alike."""
    import asyncio

    from prefect_secrets._sources.remote import deadline_of
    from prefect_secrets.sources import SourceConfig

    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "0")
    deadline = deadline_of(SourceConfig().settings)
    sick = faulty("trickle")
    started = time.monotonic()

    def look_up() -> object:
        if caller == "sync":
            return Secret("TRICKLE").get()
        return asyncio.run(Secret("TRICKLE").aget())

    with api_url(sick.api_url), pytest.raises(SecretSourceError) as caught:
        look_up()
    elapsed = time.monotonic() - started
    assert f"no complete answer within {deadline:g} s" in str(caught.value)
    assert "block 'secret/trickle'" in str(caught.value)
    assert deadline - 0.1 <= elapsed < deadline + 1.0, (elapsed, deadline)


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("close-mid-response", "closed mid-response"),
        ("reset", "closed mid-response"),
        ("not-json", "not a Secret block document"),
        ("web-page", "answered with a web page: is PREFECT_API_URL the API's address"),
    ],
)
def test_broken_answers(faulty: Callable[[str], FaultyServer], behaviour: str, reason: str) -> None:
    sick = faulty(behaviour)
    with api_url(sick.api_url):
        error, elapsed = timed_failure(Secret("ANY"))
    assert reason in str(error)
    assert sick.api_url in str(error)
    assert elapsed < 3


@pytest.fixture
def proxy_to_server(server: PrefectServer) -> Iterator[TcpProxy]:
    address = urlsplit(server.api_url)
    proxy = TcpProxy((address.hostname or "127.0.0.1", address.port or 80))
    with api_url(proxy.url + "/api"):
        yield proxy
    proxy.close()


@pytest.mark.usefixtures("quick")
def test_a_slow_but_timely_network_still_answers(
    proxy_to_server: TcpProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    value = fake("slow")
    save_block("slow-network", value)
    proxy_to_server.mode, proxy_to_server.delay = "delay", 0.2
    assert Secret("SLOW_NETWORK").get() == value


@pytest.mark.usefixtures("quick")
def test_a_network_slower_than_the_timeout_fails_in_bounded_time(
    proxy_to_server: TcpProxy,
) -> None:
    proxy_to_server.mode, proxy_to_server.delay = "delay", 5
    error, elapsed = timed_failure(Secret("ANY"))
    assert "no answer within 1.5 s" in str(error)
    assert proxy_to_server.connections == 1
    assert elapsed < 3.5


@pytest.mark.usefixtures("quick")
def test_a_server_slower_than_the_timeout_answers_within_the_budget_asked_once(
    proxy_to_server: TcpProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    """timeout 0.5 s, 2 retries: an answer after 1 s is waited for (the budget is 1.5 s),
    not abandoned and asked for again, as a fleet's cold start makes a server this slow."""
    value = fake("late")
    save_block("late-answer", value)
    proxy_to_server.mode, proxy_to_server.delay = "delay", 1.0
    connections_before = proxy_to_server.connections
    started = time.monotonic()
    assert Secret("LATE_ANSWER").get() == value
    assert time.monotonic() - started >= 1.0
    assert proxy_to_server.connections - connections_before == 1


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("mode", ["drop", "reset"])
def test_dropped_and_reset_connections(proxy_to_server: TcpProxy, mode: str) -> None:
    proxy_to_server.mode = mode
    error, elapsed = timed_failure(Secret("ANY"))
    assert proxy_to_server.url in str(error)
    assert "after 3 attempts" in str(error)
    assert proxy_to_server.connections == 3
    assert elapsed < 3


@pytest.mark.usefixtures("quick")
def test_an_outage_fails_cleanly_and_recovery_needs_no_restart(
    proxy_to_server: TcpProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    """Kept-alive connections die with the outage; the pool recovers on its own."""
    value = fake("outage")
    save_block("outage-secret", value)
    assert Secret("OUTAGE_SECRET").get() == value
    proxy_to_server.down()
    with pytest.raises(SecretSourceError, match="cannot connect"):
        Secret("OUTAGE_SECRET").get()
    proxy_to_server.up()
    assert Secret("OUTAGE_SECRET").get() == value


FLOW_THAT_KEEPS_READING = """
import sys, time
from prefect import flow
from prefect_secrets import Secret, SecretSourceError

@flow
def keeps_reading(deadline: float) -> list[str]:
    outcomes = []
    while time.time() < deadline:
        try:
            ok = Secret("RESTART_SECRET").get() == sys.argv[2]
            outcomes.append("ok" if ok else "WRONG")
        except SecretSourceError as exc:
            outcomes.append("error" if sys.argv[1] in str(exc) else "OTHER-ERROR")
        print(outcomes[-1], flush=True)
        if outcomes[-1] == "ok" and "error" in outcomes:
            break
        time.sleep(0.25)
    return outcomes

keeps_reading(time.time() + 90)
"""


def test_a_real_server_restart_while_a_flow_runs(
    server: PrefectServer,
    save_block: Callable[[str, Any], None],
    fake: Callable[[str], str],
    tmp_path: Any,
) -> None:
    """The Prefect server stops and starts again under a running flow's lookups."""
    import os

    value = fake("restart")
    save_block("restart-secret", value)
    script = tmp_path / "keeps_reading.py"
    script.write_text(FLOW_THAT_KEEPS_READING)
    env = {
        **os.environ,
        "PREFECT_API_URL": server.api_url,
        "PREFECT_SECRETS_TIMEOUT": "1",
        "PREFECT_SECRETS_RETRIES": "0",
        "PREFECT_SECRETS_CACHE_TTL": "0",
    }
    process = subprocess.Popen(
        [sys.executable, str(script), server.api_url, value],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "ok"
        server.stop()
        assert process.stdout.readline().strip() == "error"
        server.start()
        rest, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        if server.process is None:
            server.start()
    outcomes = ["ok", "error", *rest.split()]
    assert outcomes[-1] == "ok", stderr[-3000:]
    assert set(outcomes) == {"ok", "error"}, outcomes
    assert process.returncode == 0, stderr[-3000:]
