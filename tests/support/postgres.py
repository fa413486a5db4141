"""A throwaway PostgreSQL server for tests, and the worker process of tests/test_postgres.py.

`PostgresServer` runs the machine's own PostgreSQL binaries (Debian's
postgresql package, or any `initdb`/`pg_ctl` on PATH): `initdb` into a
temporary directory, `pg_ctl start` on a free port of 127.0.0.1 (no Unix
socket, trust authentication: nothing leaves the machine), one database.
PostgreSQL refuses to run as root: as root it runs as the `postgres` user,
in a directory that user owns.

Run as a script, this module is one worker of the multi-worker test:
`python tests/support/postgres.py WORK_DIR INDEX WARM_UP NAME...` looks WARM_UP up,
says it is ready, waits for WORK_DIR/go, looks the NAMEs up in a loop until
WORK_DIR/stop appears, checks every value it gets, and writes the version it
got for each lookup, with times, to WORK_DIR/worker-INDEX.json (never a value).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Where distributions put PostgreSQL's server binaries when they are not on PATH.
_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")
_TOOLS = ("initdb", "pg_ctl", "postgres", "createdb")


def find_postgres_bin() -> Path | None:
    """The directory holding initdb, pg_ctl, postgres and createdb, or None.

    PATH first (as a user's shell would), then the distributions' own
    places, newest major version first.
    """
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates += [Path(on_path).parent, Path(os.path.realpath(on_path)).parent]
    found = [Path(directory) for pattern in _BIN_GLOBS for directory in glob.glob(pattern)]
    candidates += sorted(found, key=_major_version, reverse=True)
    for directory in candidates:
        if all(os.access(directory / tool, os.X_OK) for tool in _TOOLS):
            return directory
    return None


def _major_version(directory: Path) -> int:
    digits = re.findall(r"\d+", str(directory))
    return int(digits[0]) if digits else 0


@dataclass
class PostgresServer:
    """A PostgreSQL server of our own: data in `root`, listening on 127.0.0.1:`port`."""

    bin_dir: Path
    port: int
    root: Path = field(init=False)
    run_as: str | None = field(init=False, default=None)
    started: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        # Not under pytest's tmp_path: as root that is a 0700 directory of
        # root's, which the postgres user cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="prefect-secrets-pg-"))
        if os.geteuid() == 0:
            self.run_as = "postgres"
            shutil.chown(self.root, user=self.run_as, group=None)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str, timeout: float = 60) -> str:
        """Run one of PostgreSQL's tools (as the postgres user when we are root)."""
        command = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            runuser = shutil.which("runuser")
            if runuser:
                command = [runuser, "-u", self.run_as, "--", *command]
            else:
                quoted = " ".join(_shell_quote(part) for part in command)
                command = ["su", "-s", "/bin/sh", self.run_as, "-c", quoted]
        result = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
        )
        if result.returncode != 0:
            log = (
                self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            )
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{log}"
            )
        return result.stdout

    def start(self, database: str) -> None:
        if self.run_as is not None:
            import pwd

            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise RuntimeError(
                    "running as root, and PostgreSQL refuses to run as root: "
                    f"it needs a '{self.run_as}' user (the postgresql package creates one)"
                ) from None
        self.run(
            "initdb",
            "-D",
            str(self.data_dir),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
        )
        # A test database: loopback TCP only, no Unix socket (its default
        # directory may not exist or be writable here), no fsync.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self.run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            timeout=90,
        )
        self.started = True
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database)

    def query(self, database: str, sql: str) -> list[str]:
        """Rows of `sql` (psql, unaligned, tuples only) as lines."""
        output = self.run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        )
        return output.splitlines()

    def stop(self) -> None:
        try:
            if self.started:
                self.run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        finally:
            self.started = False
            shutil.rmtree(self.root, ignore_errors=True)


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# --- The worker: self-checking values, counts only -------------------------------------


def fake_value(name: str, version: int) -> str:
    """The value of `name` at `version`: names both, and a digest of both, so a reader
    can tell another secret's value, another version or a mix of two from the right one."""
    digest = hashlib.sha256(f"{name}:{version}".encode()).hexdigest()
    return f"fake-{name}-v{version}-{digest * 4}"


def version_of(name: str, value: object) -> int | None:
    """The version `value` is of secret `name`, or None if it is not exactly one of them."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(rf"fake-{re.escape(name)}-v(\d+)-[0-9a-f]+", value)
    if match is None:
        return None
    version = int(match.group(1))
    return version if value == fake_value(name, version) else None


#: A worker stops by itself after this many seconds, whatever happens to the test.
WORKER_DEADLINE = 100.0
#: Seconds a worker waits between two rounds of lookups.
ROUND_PAUSE = 0.1


def _worker(work_dir: Path, index: int, warm_up: str, names: list[str]) -> None:
    """Look `warm_up` up (Prefect imported, server reached), say ready, wait for
    WORK_DIR/go, then look `names` up in rounds until WORK_DIR/stop."""
    from prefect_secrets import Secret

    started = time.monotonic()
    # name -> [[t_start, t_end, version], ...]; version -1: a wrong value, -2: an error.
    lookups: dict[str, list[list[float]]] = {name: [] for name in names}
    errors: list[str] = []

    def look_up(name: str) -> int:
        before = time.monotonic()
        try:
            value = Secret(name).get()
        except Exception as exc:  # noqa: BLE001 (every failure is counted: none expected)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            version = -2
        else:
            version = version_of(name, value)
            if version is None:
                errors.append(f"{name}: not a value of this secret (value not shown)")
                version = -1
        if name in lookups:
            lookups[name].append([before, time.monotonic(), version])
        return version

    if look_up(warm_up) != 1:
        errors.append(f"{warm_up}: not version 1")
    (work_dir / f"ready-{index}").touch()
    go, stop = work_dir / "go", work_dir / "stop"
    while not go.exists() and not stop.exists():
        time.sleep(0.01)
        if time.monotonic() - started > WORKER_DEADLINE:
            break
    while not stop.exists() and time.monotonic() - started < WORKER_DEADLINE:
        round_started = time.monotonic()
        for name in names:
            look_up(name)
        # When the last complete round began: the test waits for one after its last rotation.
        (work_dir / f".round-{index}").write_text(repr(round_started))
        (work_dir / f".round-{index}").replace(work_dir / f"round-{index}")
        # A breath between rounds: the CLI rotating the secrets shares the CPUs.
        time.sleep(ROUND_PAUSE)
    result = {"lookups": lookups, "errors": errors[:20], "error_count": len(errors)}
    temporary = work_dir / f".worker-{index}.json"
    temporary.write_text(json.dumps(result))
    temporary.replace(work_dir / f"worker-{index}.json")


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:])
