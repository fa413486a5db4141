"""Beyond one machine: Prefect's server on PostgreSQL, several worker processes, rotations.

A real PostgreSQL (the machine's own binaries, see tests/support/postgres.py) on
127.0.0.1, two real `prefect server start` processes sharing its database
(as API replicas behind a load balancer do), four worker processes looking
secrets up in a loop with the cache off (every lookup asks a server), and
the `prefect-secrets set --server` command rotating three secrets meanwhile,
through one server or the other.

The promise checked: every lookup returns the value the secret had when the
lookup started or one written while it ran (never an older one, never an
error, never another secret's value, never a mix of two), and a worker
never sees a secret go back to an older version.

When PostgreSQL is not installed the test is skipped, saying so loudly;
`.ci/run` installs it and sets PREFECT_SECRETS_REQUIRE_POSTGRES=1, which
turns "not installed" into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefect_secrets._core.names import block_name
from tests.support import postgres as worker_module
from tests.support.cli import run_cli
from tests.support.postgres import PostgresServer, fake_value, find_postgres_bin
from tests.support.servers import PrefectServer, free_port

REQUIRE_ENV = "PREFECT_SECRETS_REQUIRE_POSTGRES"
# Read when the module is imported: the autouse `isolated_env` fixture removes
# PREFECT_SECRETS_* variables from the environment of every test.
POSTGRES_REQUIRED = os.environ.get(REQUIRE_ENV) == "1"
POSTGRES_BIN = find_postgres_bin()
DATABASE = "prefect"
#: Written first, alone, when the cluster starts; the workers' warm-up lookup.
FIRST_SECRET = "PG_FIRST_SECRET"

WORKERS = 4
SECRETS = 3
#: Versions written per secret after the first (v2, v3...), unless ROTATION_SECONDS run out.
ROTATIONS_PER_SECRET = 3
ROTATION_SECONDS = 40.0
#: Each secret must have been rotated at least this often for the test to mean anything.
MIN_ROTATIONS_PER_SECRET = 2


@dataclass
class Cluster:
    postgres: PostgresServer
    servers: list[PrefectServer]
    startup: dict[str, float]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """PostgreSQL, and two Prefect servers on one database of it."""
    if POSTGRES_BIN is None:
        reason = (
            "PostgreSQL is not installed (no initdb/pg_ctl/postgres/createdb on PATH or in "
            "/usr/lib/postgresql/*/bin)"
        )
        if POSTGRES_REQUIRED:
            pytest.fail(f"{reason}, but {REQUIRE_ENV}=1: .ci/run installed it", pytrace=False)
        pytest.skip(
            f"!!! {reason}: the PostgreSQL integration test is SKIPPED. Install PostgreSQL "
            "(e.g. apt-get install postgresql) to run it !!!"
        )
    startup: dict[str, float] = {}
    began = time.monotonic()
    database = PostgresServer(POSTGRES_BIN, free_port())
    servers: list[PrefectServer] = []
    try:
        database.start(DATABASE)
        startup["postgres"] = time.monotonic() - began
        base = tmp_path_factory.mktemp("pg-prefect")
        env = {"PREFECT_SERVER_DATABASE_CONNECTION_URL": database.url(DATABASE)}
        # The first server creates the schema; the second, a replica of the API
        # only, starts on the migrated database.
        for index, options in enumerate(((), ("--no-services",))):
            began = time.monotonic()
            server = PrefectServer(
                home=base / f"server-{index}", port=free_port(), env=env, options=options
            )
            servers.append(server)
            server.start()
            startup[f"prefect server {index}"] = time.monotonic() - began
        # A fresh Prefect server creates its encryption key on its first block
        # write, and Prefect 3.8 races there: concurrent first writes fail with
        # a conflict (or, rarely, one replaces the key another just used). One
        # write first, alone, as a deployment's first `set` is.
        first = run_cli(
            "set",
            FIRST_SECRET,
            "--server",
            "--value",
            fake_value(FIRST_SECRET, 1),
            env={"PREFECT_API_URL": servers[0].api_url},
        )
        assert first.code == 0, first.stderr
        yield Cluster(database, servers, startup)
    finally:
        for server in servers:
            server.stop()
        database.stop()


@dataclass
class Rotation:
    name: str
    version: int
    started: float
    finished: float


def test_the_cluster_really_runs_on_postgresql(cluster: Cluster) -> None:
    assert cluster.postgres.query(DATABASE, "select 1") == ["1"]
    for server in cluster.servers:
        assert not list(server.home.glob("*.db")), "a server fell back to SQLite"


def test_workers_see_the_old_or_the_new_value_while_the_cli_rotates(
    cluster: Cluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    began = time.monotonic()
    stem = f"PG_ROTATE_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    names = [f"{stem}_{letter}" for letter in "ABC"[:SECRETS]]
    servers = cluster.servers
    client_home = tmp_path / "client-home"

    def env_for(server: PrefectServer) -> dict[str, str]:
        return {
            "PREFECT_API_URL": server.api_url,
            "PREFECT_HOME": str(client_home),
            "PREFECT_SECRETS_CACHE_TTL": "0",
            "PREFECT_SECRETS_CACHE_MISS_TTL": "0",
        }

    # Workers start (they import Prefect and look FIRST_SECRET up) while
    # version 1 of every secret is written; they start looking when all is set.
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    logs = [work_dir / f"worker-{index}.log" for index in range(WORKERS)]
    workers = []
    for index in range(WORKERS):
        with open(logs[index], "wb") as log:
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        worker_module.__file__,
                        str(work_dir),
                        str(index),
                        FIRST_SECRET,
                        *names,
                    ],
                    env={**os.environ, **env_for(servers[index % len(servers)])},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        with ThreadPoolExecutor(SECRETS) as pool:
            results = list(
                pool.map(
                    lambda name: run_cli(
                        "set", name, "--server", "--value", fake_value(name, 1),
                        env=env_for(servers[0]),
                    ),
                    names,
                )
            )  # fmt: skip
        assert [result.code for result in results] == [0] * SECRETS, [r.stderr for r in results]
        deadline = time.monotonic() + 60
        while not all((work_dir / f"ready-{index}").exists() for index in range(WORKERS)):
            for index, worker in enumerate(workers):
                assert worker.poll() is None, f"worker {index} exited: {logs[index].read_text()}"
            assert time.monotonic() < deadline, "workers did not start in 60 s"
            time.sleep(0.05)
        (work_dir / "go").touch()
        ready_after = time.monotonic() - began

        # Rotate: one thread per secret, each version through the other server.
        rotations: list[Rotation] = []
        failures: list[str] = []
        lock = threading.Lock()
        rotation_deadline = time.monotonic() + ROTATION_SECONDS

        def rotate(name: str) -> None:
            for version in range(2, ROTATIONS_PER_SECRET + 2):
                if time.monotonic() > rotation_deadline:
                    return
                server = servers[version % len(servers)]
                started = time.monotonic()
                result = run_cli(
                    "set", name, "--server", "--value", fake_value(name, version), "--yes",
                    env=env_for(server),
                )  # fmt: skip
                finished = time.monotonic()
                with lock:
                    if result.code != 0:
                        failures.append(f"set {name} v{version}: {result.code} {result.stderr}")
                        return
                    rotations.append(Rotation(name, version, started, finished))

        rotating_since = time.monotonic()
        threads = [threading.Thread(target=rotate, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rotating_for = time.monotonic() - rotating_since
        assert not failures, failures
        # Let every worker look everything up again after the last rotation.
        last_finished = max((r.finished for r in rotations), default=0.0)
        deadline = time.monotonic() + 30
        while not all(
            (work_dir / f"round-{index}").exists()
            and float((work_dir / f"round-{index}").read_text()) > last_finished
            for index in range(WORKERS)
        ):
            assert time.monotonic() < deadline, "workers stopped looking secrets up"
            time.sleep(0.05)
    finally:
        (work_dir / "stop").touch()
        stop_by = time.monotonic() + 30
        for worker in workers:
            try:
                worker.wait(timeout=max(0.1, stop_by - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    reports = []
    for index, worker in enumerate(workers):
        report_path = work_dir / f"worker-{index}.json"
        assert worker.returncode == 0, logs[index].read_text()
        assert report_path.exists(), logs[index].read_text()
        reports.append(json.loads(report_path.read_text()))

    # Every rotation was a real one, and there were enough of them to race.
    per_secret = {name: sorted(r.version for r in rotations if r.name == name) for name in names}
    for versions in per_secret.values():
        assert versions == list(range(2, len(versions) + 2)), per_secret
        assert len(versions) >= MIN_ROTATIONS_PER_SECRET, per_secret
    last_finished = max(r.finished for r in rotations)

    errors = sum(report["error_count"] for report in reports)
    assert errors == 0, [report["errors"] for report in reports]

    lookups = during = changes_seen = 0
    out_of_order: list[str] = []
    for index, report in enumerate(reports):
        for name in names:
            done = [r for r in rotations if r.name == name]
            seen = report["lookups"][name]
            assert seen, f"worker {index} never looked {name} up"
            previous = 0
            for start, end, version in seen:
                lookups += 1
                # The newest version written before the lookup started, and the
                # newest one whose write had begun before it ended.
                oldest_allowed = max([1] + [r.version for r in done if r.finished < start])
                newest_allowed = max([1] + [r.version for r in done if r.started < end])
                if any(r.started < end and start < r.finished for r in done):
                    during += 1
                if not oldest_allowed <= version <= newest_allowed:
                    out_of_order.append(
                        f"worker {index} {name}: got v{version}, allowed "
                        f"v{oldest_allowed}..v{newest_allowed}"
                    )
                if version < previous:
                    out_of_order.append(f"worker {index} {name}: v{previous} then v{version}")
                previous = max(previous, int(version))
            changes_seen += len({version for _, _, version in seen}) - 1
            final = [version for start, _, version in seen if start > last_finished]
            assert final, f"worker {index} did not look {name} up after the last rotation"
            assert set(final) == {per_secret[name][-1]}, (index, name, set(final))
    assert not out_of_order, out_of_order[:10]
    assert during > 0, "no lookup ran while a rotation did: the test raced nothing"
    assert changes_seen > 0, "no worker saw a secret change: the test raced nothing"
    # The blocks live in PostgreSQL, where both servers read them.
    blocks = cluster.postgres.query(
        DATABASE,
        "select name from block_document where name in ("
        + ", ".join(f"'{block_name(name)}'" for name in names)
        + ") order by name",
    )
    assert blocks == sorted(block_name(name) for name in names)

    took = [r.finished - r.started for r in rotations]
    with capsys.disabled():
        startup = ", ".join(f"{what} {seconds:.1f} s" for what, seconds in cluster.startup.items())
        print(
            f"\n[postgres] startup: {startup}, v1 set and workers ready {ready_after:.1f} s; "
            f"{WORKERS} workers on {len(servers)} servers, "
            f"{SECRETS} secrets: {lookups} lookups ({during} during a rotation, "
            f"{changes_seen} changes seen), {len(rotations)} rotations in {rotating_for:.1f} s "
            f"(each {min(took):.1f}-{max(took):.1f} s), {errors} errors; "
            f"test {time.monotonic() - began:.1f} s"
        )
