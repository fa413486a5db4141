"""Real servers for tests: `prefect server start`, and small HTTP servers we write.

No mocks: the library talks to these over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrefectServer:
    """A `prefect server start` subprocess with its own PREFECT_HOME (SQLite)."""

    home: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.home / "server.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"prefect server did not start in {STARTUP_TIMEOUT} s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def delete_block(self, block_name: str) -> None:
        """Delete Secret block `block_name` if it exists (test cleanup)."""
        url = f"{self.api_url}/block_types/slug/secret/block_documents/name/{block_name}"
        response = httpx.get(url, timeout=10)
        if response.status_code == 200:
            httpx.delete(f"{self.api_url}/block_documents/{response.json()['id']}", timeout=10)


def start_prefect_server(home: Path) -> PrefectServer:
    server = PrefectServer(home=home, port=free_port())
    server.start()
    return server


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: CountingProxy

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def _forward(self) -> None:
        proxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with proxy.lock:
            proxy.requests[(self.command, self.path.split("?")[0])] += 1
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
        }
        upstream = httpx.request(
            self.command, proxy.upstream + self.path, headers=headers, content=body, timeout=30
        )
        self.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in (
                "content-length",
                "transfer-encoding",
                "content-encoding",
                "connection",
            ):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    def log_message(self, format: str, *args: object) -> None:
        pass  # request lines carry block names only, but keep test output quiet


class CountingProxy(http.server.ThreadingHTTPServer):
    """An HTTP reverse proxy in front of a real server that counts requests per path."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def total(self) -> int:
        with self.lock:
            return sum(self.requests.values())

    def reset(self) -> None:
        """Forget the requests counted so far (e.g. those made to set a test up)."""
        with self.lock:
            self.requests.clear()


@contextmanager
def counting_proxy(upstream_origin: str) -> Iterator[CountingProxy]:
    """Run a CountingProxy for `upstream_origin` (e.g. http://127.0.0.1:4200)."""
    proxy = CountingProxy(upstream_origin)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
