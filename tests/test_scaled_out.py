"""Prefect's server scaled out as production runs it, and prefect-secrets against it.

One PostgreSQL, one Redis, two API replicas (`prefect server start --no-services`)
and the background services once (`prefect server services start`), every
process with its own PREFECT_HOME (tests/support/scaled.py). A load balancer
sends a deployment's processes to any replica, so:

- a secret written through replica B is read through replica A;
- a rotation written through B reaches a long-running process on A once its
  cache expires;
- an event emitted by A (the block document update) reaches B's events
  websocket, which only Redis can carry: the replicas share nothing else
  but the database, and the websocket streams live events from the broker.

Skipped, loudly, when PostgreSQL or Redis is not installed; `.ci/run`
installs both and sets PREFECT_SECRETS_REQUIRE_POSTGRES=1 and
PREFECT_SECRETS_REQUIRE_REDIS=1, which turn "not installed" into a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefect_secrets._core.names import block_name
from tests.support.cli import run_cli
from tests.support.postgres import find_postgres_bin
from tests.support.redis import find_redis_server
from tests.support.scaled import ScaledPrefect

# Read when the module is imported: the autouse `isolated_env` fixture removes
# PREFECT_SECRETS_* variables from the environment of every test.
REDIS_REQUIRED = os.environ.get("PREFECT_SECRETS_REQUIRE_REDIS") == "1"
POSTGRES_REQUIRED = os.environ.get("PREFECT_SECRETS_REQUIRE_POSTGRES") == "1"

#: Prints a digest of the value, never the value: the test compares digests.
READ_ONCE = (
    "import hashlib, sys\n"
    "from prefect_secrets import Secret\n"
    "print(hashlib.sha256(Secret(sys.argv[1]).get().encode()).hexdigest())\n"
)

#: A long-running process on one replica: reads the secret every 0.1 s, prints the digest
#: each time it changes with the seconds since it started, and stops when the digest is
#: the one given, or after 60 s.
READ_UNTIL = (
    "import hashlib, sys, time\n"
    "from prefect_secrets import Secret\n"
    "name, wanted = sys.argv[1], sys.argv[2]\n"
    "start = time.monotonic(); last = None\n"
    "while time.monotonic() - start < 60:\n"
    "    digest = hashlib.sha256(Secret(name).get().encode()).hexdigest()\n"
    "    if digest != last:\n"
    "        print(f'{time.monotonic() - start:.3f} {digest}', flush=True); last = digest\n"
    "    if digest == wanted:\n"
    "        break\n"
    "    time.sleep(0.1)\n"
)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module")
def scaled() -> Iterator[ScaledPrefect]:
    missing = []
    if find_postgres_bin() is None:
        missing.append(("PostgreSQL", "postgresql", POSTGRES_REQUIRED))
    if find_redis_server() is None:
        missing.append(("Redis", "redis-server", REDIS_REQUIRED))
    for what, _, required in missing:
        if required:
            pytest.fail(f"{what} is not installed, but .ci/run said it installed it", pytrace=False)
    if missing:
        names = " and ".join(what for what, _, _ in missing)
        packages = " ".join(package for _, package, _ in missing)
        pytest.skip(
            f"!!! {names} not installed: the scaled-out Prefect server test is SKIPPED. "
            f"Install them (e.g. apt-get install {packages}) to run it !!!"
        )
    with ScaledPrefect(replicas=2) as cluster:
        yield cluster


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    """What a process of the deployment has: its own PREFECT_HOME, this checkout first."""
    return {
        "PREFECT_HOME": str(tmp_path / "client-home"),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def fake_value() -> str:
    return f"fake-scaled-{secrets.token_hex(16)}"


def set_through(api_url: str, name: str, value: str, env: dict[str, str]) -> None:
    # The value on stdin, not --value: not in `ps`, as the README advises.
    result = run_cli(
        "set", name, "--store", "server", "--yes",
        stdin=value + "\n",
        env={**env, "PREFECT_API_URL": api_url},
    )  # fmt: skip
    assert result.code == 0, result.stderr


def read_through(api_url: str, name: str, env: dict[str, str]) -> str:
    process = subprocess.run(
        [sys.executable, "-c", READ_ONCE, name],
        env={**os.environ, **env, "PREFECT_API_URL": api_url},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout.strip()


def test_the_replicas_are_separate_processes_on_postgresql_and_redis(
    scaled: ScaledPrefect,
) -> None:
    a, b = scaled.replicas
    assert a.port != b.port
    assert a.home != b.home
    for replica in scaled.replicas:
        assert httpx.get(f"{replica.api_url}/health", timeout=10).status_code == 200
        assert not list(replica.home.glob("*.db")), "a replica fell back to SQLite"
    # The services process is consuming the events stream in Redis.
    assert "event-persister" in scaled.event_consumer_groups()


def test_a_secret_written_through_b_is_read_through_a(
    scaled: ScaledPrefect, client_env: dict[str, str]
) -> None:
    url_a, url_b = scaled.api_urls
    name = f"SCALED_{secrets.token_hex(4).upper()}"
    value = fake_value()
    set_through(url_b, name, value, client_env)
    assert read_through(url_a, name, client_env) == digest(value)
    # It is in PostgreSQL, the only place both replicas read blocks from.
    rows = scaled.postgres.query(
        "prefect", f"select count(*) from block_document where name = '{block_name(name)}'"
    )
    assert rows == ["1"]


def test_a_rotation_through_b_reaches_a_process_on_a_when_its_cache_expires(
    scaled: ScaledPrefect, client_env: dict[str, str]
) -> None:
    url_a, url_b = scaled.api_urls
    name = f"SCALED_ROTATE_{secrets.token_hex(4).upper()}"
    old, new = fake_value(), fake_value()
    set_through(url_b, name, old, client_env)
    reader = subprocess.Popen(
        [sys.executable, "-c", READ_UNTIL, name, digest(new)],
        env={
            **os.environ,
            **client_env,
            "PREFECT_API_URL": url_a,
            "PREFECT_SECRETS_CACHE_TTL": "1",
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        # The reader has the old value (cached now) before the rotation begins.
        first = reader.stdout.readline().split()
        assert first, "the reader printed nothing (it failed: see its stderr below)"
        assert first[1] == digest(old), "the reader did not get the first value"
        set_through(url_b, name, new, client_env)
        rotated_at = time.monotonic()
        out, err = reader.communicate(timeout=90)
        seen_at = time.monotonic()
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err[-3000:]
    digests = [line.split()[1] for line in out.splitlines()]
    # Old, then new: no other value, no going back.
    assert digests == [digest(new)], (len(digests), "digests after the first")
    # The TTL is 1 s: well within 20 s of the write, even on a loaded machine.
    assert seen_at - rotated_at < 20


async def test_an_event_emitted_by_a_reaches_the_events_websocket_of_b(
    scaled: ScaledPrefect, client_env: dict[str, str]
) -> None:
    """What push relies on across replicas: a block write through A is an event on B's
    websocket. Servers before Prefect 3.7.4 emit no block events: there, an event a
    client sends to A stands in for it (the same messaging carries both)."""
    from prefect.events.clients import get_events_subscriber
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tests.support.push_reader import server_cannot_push

    url_a, url_b = scaled.api_urls
    if server_cannot_push() is not None:
        await _a_client_event_through_a_reaches_b(url_a, url_b)
        return
    name = f"SCALED_EVENT_{secrets.token_hex(4).upper()}"
    # A new block, through B: no "updated" event of it exists yet anywhere, so the
    # websocket's backfill from the database has none to send.
    set_through(url_b, name, fake_value(), client_env)
    response = httpx.get(
        f"{url_b}/block_types/slug/secret/block_documents/name/{block_name(name)}", timeout=10
    )
    assert response.status_code == 200
    resource = f"prefect.block-document.{response.json()['id']}"
    event_filter = EventFilter(
        event=EventNameFilter(name=["prefect.block-document.updated"]),
        resource=EventResourceFilter(id=[resource]),
    )
    with temporary_settings(updates={PREFECT_API_URL: url_b}):
        async with get_events_subscriber(filter=event_filter, reconnection_attempts=0) as events:
            # Subscribed to B. Now the update, through A (a PATCH: `set` of an existing one).
            await asyncio.to_thread(set_through, url_a, name, fake_value(), client_env)
            event = await asyncio.wait_for(events.__anext__(), timeout=30)
    assert event.event == "prefect.block-document.updated"
    assert event.resource.id == resource


async def _a_client_event_through_a_reaches_b(url_a: str, url_b: str) -> None:
    from prefect.events import Event
    from prefect.events.clients import PrefectEventsClient, get_events_subscriber
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.settings import PREFECT_API_URL, temporary_settings

    name = f"prefect-secrets.test.{secrets.token_hex(4)}"
    event_filter = EventFilter(event=EventNameFilter(name=[name]))
    with temporary_settings(updates={PREFECT_API_URL: url_b}):
        async with get_events_subscriber(filter=event_filter, reconnection_attempts=0) as events:
            async with PrefectEventsClient(api_url=url_a) as client_of_a:
                await client_of_a.emit(Event(event=name, resource={"prefect.resource.id": name}))
            event = await asyncio.wait_for(events.__anext__(), timeout=30)
    assert event.event == name


def test_a_rotation_through_b_is_pushed_to_a_process_on_a(
    scaled: ScaledPrefect, client_env: dict[str, str], tmp_path: Path
) -> None:
    """Push invalidation across replicas: the reader on A caches for 10 minutes, so only
    the block event (written on B, carried by Redis to A's events websocket) can make it
    see the rotation in time. Against servers before Prefect 3.7.4 (no block events),
    the reader says push is off and keeps its answer for its TTL."""
    from tests.support.push_reader import fingerprint, server_cannot_push

    push_off = server_cannot_push()

    url_a, url_b = scaled.api_urls
    name = f"SCALED_PUSHED_{secrets.token_hex(4).upper()}"
    old, new = fake_value(), fake_value()
    set_through(url_b, name, old, client_env)
    log = tmp_path / "reader.log"
    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.support.push_reader", str(log), name],
        env={
            **os.environ,
            **client_env,
            "PREFECT_API_URL": url_a,
            "PREFECT_SECRETS_CACHE_TTL": "600",
            "PREFECT_SECRETS_PUSH_INVALIDATION": "true",
        },
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not (log.exists() and log.read_text().count("\n") >= 2):
            assert time.monotonic() < deadline, "the reader never got ready"
            assert reader.poll() is None, "the reader failed"
            time.sleep(0.1)
        ready = log.read_text().splitlines()[0]
        if push_off is not None:
            assert ready == "ready off", "push was not turned off against a server before 3.7.4"
            set_through(url_b, name, new, client_env)
            time.sleep(3)
            assert log.read_text().split()[-1] == fingerprint(old), "outlived only by its TTL"
            return
        assert ready == "ready True", "no push subscription on A"
        set_through(url_b, name, new, client_env)
        written_at = time.monotonic()
        while log.read_text().split()[-1] != fingerprint(new):
            assert time.monotonic() - written_at < 30, "the rotation was not pushed to A"
            time.sleep(0.05)
    finally:
        log.with_name(log.name + ".stop").touch()
        reader.wait(timeout=30)
