"""How soon a rotated secret is seen by every process: pushed invalidation against the TTL.

    python -m bench.rotation          # alone; `python -m bench` runs it too (about 4 min)

One `prefect server start` on PostgreSQL (the production shape of the store). Eight
reader processes (`tests.support.push_reader`) look a secret up every 20 ms; a
`prefect-secrets set --server` in another process rotates it. The latency of one
reader for one rotation is from the moment the CLI says the write is done (its
first line of output, printed once the server answered) to the first lookup in that
reader returning the new value. Two sides, same server,
same readers' code:

- push: `push_invalidation` on (the default), `cache_ttl` 60 s (the default); ten
  rotations.
- TTL: `push_invalidation = false`, as before it existed; one rotation, with the readers
  started 7.5 s apart so that their cache entries are of every age, as in a fleet.

Goal: p99 under 1 s with push. Values are fake and never printed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Figure
from tests.support.cli import SCRIPT
from tests.support.postgres import PostgresServer, find_postgres_bin
from tests.support.push_reader import fingerprint
from tests.support.servers import PrefectServer, free_port

__all__ = ["rotation_figures"]

READERS = 8
NAME = "BENCH_ROTATED"
DATABASE = "rotation"


def rotation_figures() -> list[Figure]:
    postgres_bin = find_postgres_bin()
    if postgres_bin is None:
        raise RuntimeError("the rotation figures need PostgreSQL (apt-get install postgresql)")
    work = Path(tempfile.mkdtemp(prefix="prefect-secrets-bench-rotation-"))
    database = PostgresServer(postgres_bin, free_port())
    database.start(DATABASE)
    server = PrefectServer(
        home=work / "server",
        port=free_port(),
        env={"PREFECT_SERVER_DATABASE_CONNECTION_URL": database.url(DATABASE)},
    )
    try:
        server.start()
        home = work / "home"
        home.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SECRETS_")},
            "PREFECT_API_URL": server.api_url,
            "HOME": str(home),
            "PREFECT_HOME": str(work / "client"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        _rotate(env, 0)
        pushed = _latencies(work / "push", env, rotations=10, stagger=0.0)
        no_push = {**env, "PREFECT_SECRETS_PUSH_INVALIDATION": "false"}
        polled = _latencies(work / "ttl", no_push, rotations=1, stagger=60.0 / READERS)
    finally:
        server.stop()
        database.stop()
    push_p99, ttl_p99 = _p99(pushed), _p99(polled)
    note = (
        f"{READERS} readers on PostgreSQL; push p50 {statistics.median(pushed):.2f} s,"
        f" max {max(pushed):.2f} s ({len(pushed)} samples); TTL p50"
        f" {statistics.median(polled):.1f} s, max {max(polled):.1f} s"
    )
    return [
        Figure(
            "rotation seen by every reader, p99: push / TTL (60 s)",
            push_p99,
            ttl_p99,
            "s",
            push_p99 / ttl_p99,
            "push p99 < 1 s",
            push_p99 < 1.0,
            note=note,
        )
    ]


def _rotate(env: dict[str, str], version: int) -> float:
    """Write version `version` with the CLI; the time it said the write was done (its
    first line of output, printed once the server answered; the process takes a while
    more to exit, which is not the write's)."""
    cli = subprocess.Popen(
        [str(SCRIPT), "set", NAME, "--server", "--yes"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert cli.stdin is not None
    assert cli.stdout is not None
    cli.stdin.write(_value(version) + "\n")
    cli.stdin.close()
    cli.stdout.readline()
    acknowledged = time.time()
    cli.stdout.read()
    if cli.wait(timeout=120) != 0:
        raise RuntimeError(f"prefect-secrets set failed (exit {cli.returncode})")
    return acknowledged


def _value(version: int) -> str:
    return f"fake-rotated-{version}"


def _latencies(work: Path, env: dict[str, str], rotations: int, stagger: float) -> list[float]:
    work.mkdir()
    readers = []
    logs = [work / f"reader-{index}.log" for index in range(READERS)]
    try:
        for log in logs:
            readers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.support.push_reader", str(log), NAME], env=env
                )
            )
            time.sleep(stagger)
        _wait(lambda: all(log.exists() and "\n" in log.read_text() for log in logs), 120)
        latencies: list[float] = []
        for version in range(1, rotations + 1):
            acknowledged = _rotate(env, version)
            wanted = fingerprint(_value(version))
            _wait(_all_seen(logs, wanted), 90)
            latencies += [(_seen_at(log, wanted) or 0.0) - acknowledged for log in logs]
            time.sleep(0.5)
        return latencies
    finally:
        for log in logs:
            log.with_name(log.name + ".stop").touch()
        for reader in readers:
            reader.wait(timeout=60)


def _all_seen(logs: list[Path], wanted: str) -> Callable[[], bool]:
    return lambda: all(_seen_at(log, wanted) is not None for log in logs)


def _seen_at(log: Path, wanted: str) -> float | None:
    for line in log.read_text().splitlines()[1:]:
        seen, got = line.split()
        if got == wanted:
            return float(seen)
    return None


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done within {seconds} s")
        time.sleep(0.05)


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


if __name__ == "__main__":
    for figure in rotation_figures():
        print(figure)
