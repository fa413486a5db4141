"""A throwaway Redis server for tests: the distribution's own `redis-server`.

`RedisServer` runs it on a free port of 127.0.0.1 in a temporary directory,
with no persistence (`--save ""`, no append-only file: nothing outlives the
test) and no Unix socket, waits until it answers PING, and stops it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.fake_http import Managed
from tests.support.servers import free_port

#: Where distributions put redis-server when it is not on PATH (Debian: /usr/bin).
_BIN_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin")
STARTUP_TIMEOUT = 20.0


def find_redis_server() -> Path | None:
    """The `redis-server` binary: PATH first (as a user's shell would), then the
    distributions' own places, or None."""
    on_path = shutil.which("redis-server")
    candidates = [Path(on_path)] if on_path else []
    candidates += [Path(directory) / "redis-server" for directory in _BIN_DIRS]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def ping(port: int, timeout: float = 1.0) -> bool:
    """True when a Redis on 127.0.0.1:`port` answers PING (RESP spoken by hand: the test
    helpers do not need the redis client for this)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(Managed):
    """A `redis-server` of our own on 127.0.0.1:`port`; a context manager."""

    def __init__(self, binary: Path | None = None, port: int | None = None) -> None:
        found = binary or find_redis_server()
        if found is None:
            raise RuntimeError("redis-server is not installed (not on PATH nor in /usr/bin)")
        self.binary = found
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="prefect-secrets-redis-"))
        self.log_path = self.root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [
            str(self.binary),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--unixsocket", "",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if ping(self.port):
                return self
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING in {STARTUP_TIMEOUT} s:\n{tail}")

    def log_tail(self, chars: int = 2000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            self.process = None
            shutil.rmtree(self.root, ignore_errors=True)
