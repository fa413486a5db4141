"""Prefect's server scaled out as production runs it: PostgreSQL, Redis, API replicas, services.

`ScaledPrefect` starts, on 127.0.0.1 only:

- one PostgreSQL database (`PostgresServer`, tests/support/postgres.py);
- one Redis (`RedisServer`, tests/support/redis.py), which carries Prefect's
  messaging (events and their causal ordering, the messaging cache), its
  concurrency lease storage and its background-task queue (docket);
- `replicas` API processes, each `prefect server start --no-services` on its own port,
  as a load balancer's backends are;
- the background services once, alone: `prefect server services start`.

Every process gets its own throwaway PREFECT_HOME, so nothing is shared through
the file system: whatever one replica sees of another's writes went through
PostgreSQL or Redis. Waits are bounded, and a process that fails to start
raises with the tail of its log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.fake_http import Managed
from tests.support.postgres import PostgresServer, find_postgres_bin
from tests.support.redis import RedisServer
from tests.support.servers import PrefectServer, free_port

DATABASE = "prefect"
#: The consumer group the services' event persister creates on Redis's `events` stream
#: when it starts consuming it (prefect/server/events/services/event_persister.py): the
#: services process is up when it exists. (Others, e.g. reactive-triggers, come later.)
SERVICE_GROUPS = ("event-persister",)
#: Bounds on each start, generous: 2 shared cores, other suites running meanwhile.
MIGRATE_TIMEOUT = 300.0
REPLICA_TIMEOUT = 180.0
SERVICES_TIMEOUT = 180.0


def log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


class ScaledPrefect(Managed):
    """PostgreSQL + Redis + `replicas` API processes + one services process; a context
    manager. `api_urls[i]` is replica i's PREFECT_API_URL."""

    def __init__(self, replicas: int = 2) -> None:
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (see tests/support/postgres.py)")
        self.root = Path(tempfile.mkdtemp(prefix="prefect-secrets-scaled-"))
        self.postgres = PostgresServer(bin_dir, free_port())
        self.redis = RedisServer()
        self.replicas = [
            PrefectServer(home=self.root / f"api-{index}", port=free_port(), options=())
            for index in range(replicas)
        ]
        self.services: subprocess.Popen[bytes] | None = None
        self.services_home = self.root / "services"
        self.services_log = self.services_home / "services.log"

    @property
    def api_urls(self) -> list[str]:
        return [replica.api_url for replica in self.replicas]

    def env(self) -> dict[str, str]:
        """The settings every server process shares: the database, and Redis for all that
        Prefect keeps in memory by default (prefect-redis's documented settings)."""
        redis_port = str(self.redis.port)
        return {
            "PREFECT_API_DATABASE_CONNECTION_URL": self.postgres.url(DATABASE),
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
            "PREFECT_REDIS_MESSAGING_PORT": redis_port,
            # Background tasks queued by one replica may run anywhere: a shared docket.
            "PREFECT_SERVER_DOCKET_URL": f"redis://127.0.0.1:{redis_port}/1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
        }

    def start(self) -> ScaledPrefect:
        try:
            self.postgres.start(DATABASE)
            self.redis.start()
            env = self.env()
            self._migrate(env)
            for replica in self.replicas:
                # Migrated once, above, as a deployment does before rolling replicas out:
                # replicas starting together must not race each other migrating.
                replica.env = {**env, "PREFECT_API_DATABASE_MIGRATE_ON_START": "false"}
                replica.options = ("--no-services",)
                replica.startup_timeout = REPLICA_TIMEOUT
            # The first replica alone (a server's start registers the block types, which
            # concurrent starts on an empty database would race), then the others and the
            # services at once.
            self._start_replica(self.replicas[0])
            with ThreadPoolExecutor(len(self.replicas)) as pool:
                waits = [pool.submit(self._start_replica, r) for r in self.replicas[1:]]
                waits.append(pool.submit(self._start_services, env))
                for wait in waits:
                    wait.result()
        except BaseException:
            self.stop()
            raise
        return self

    def _migrate(self, env: dict[str, str]) -> None:
        """`prefect server database upgrade -y`, once, before any replica starts."""
        home = self.root / "migrate"
        home.mkdir(parents=True, exist_ok=True)
        log_path = home / "migrate.log"
        process_env = {**os.environ, **env, "PREFECT_HOME": str(home)}
        process_env.pop("PREFECT_API_URL", None)
        with open(log_path, "ab") as log:
            try:
                result = subprocess.run(
                    [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                    env=process_env,
                    cwd=home,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=MIGRATE_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError(
                    f"prefect server database upgrade took over {MIGRATE_TIMEOUT} s:\n"
                    f"{log_tail(log_path)}"
                ) from None
        if result.returncode != 0:
            raise RuntimeError(
                f"prefect server database upgrade failed ({result.returncode}):\n"
                f"{log_tail(log_path)}"
            )

    def _start_replica(self, replica: PrefectServer) -> None:
        try:
            replica.start()
        except RuntimeError as exc:
            tail = log_tail(replica.log_path)
            raise RuntimeError(f"{exc}\n--- its log ends with ---\n{tail}") from None

    def _start_services(self, env: dict[str, str]) -> None:
        self.services_home.mkdir(parents=True, exist_ok=True)
        process_env = {**os.environ, **env, "PREFECT_HOME": str(self.services_home)}
        process_env.pop("PREFECT_API_URL", None)
        with open(self.services_log, "ab") as log:
            self.services = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "services", "start"],
                env=process_env,
                cwd=self.services_home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVICES_TIMEOUT
        while time.monotonic() < deadline:
            if self.services.poll() is not None:
                raise RuntimeError(
                    f"prefect server services exited ({self.services.returncode}):\n"
                    f"{log_tail(self.services_log)}"
                )
            if set(SERVICE_GROUPS) <= self.event_consumer_groups():
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"prefect server services did not consume events in {SERVICES_TIMEOUT} s:\n"
            f"{log_tail(self.services_log)}"
        )

    def event_consumer_groups(self) -> set[str]:
        """The consumer groups on Redis's `events` stream (empty before it exists)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.redis.port, socket_timeout=2)
        try:
            groups = client.xinfo_groups("events")
        except redis.ResponseError:  # no such stream yet
            return set()
        finally:
            client.close()
        return {
            name.decode() if isinstance(name, bytes) else str(name)
            for name in (group["name"] for group in groups)
        }

    def stop(self) -> None:
        if self.services is not None and self.services.poll() is None:
            self.services.terminate()
            try:
                self.services.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.services.kill()
                self.services.wait()
        self.services = None
        for replica in self.replicas:
            replica.stop()
        self.redis.stop()
        self.postgres.stop()
        shutil.rmtree(self.root, ignore_errors=True)
