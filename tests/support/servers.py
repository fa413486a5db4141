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
from contextlib import contextmanager, suppress
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
    """A `prefect server start` subprocess with its own PREFECT_HOME (SQLite unless `env`
    names another database, e.g. PREFECT_SERVER_DATABASE_CONNECTION_URL)."""

    home: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    #: Extra environment for the server (e.g. its database) and extra `server start` options.
    env: dict[str, str] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    #: Seconds `start` waits for /health (a replica on a loaded 2-core CI machine needs more).
    startup_timeout: float = STARTUP_TIMEOUT
    #: Serve Prefect's UI too (tests/test_ui.py), talking to this server's own API.
    ui: bool = False

    def __post_init__(self) -> None:
        self.log_path = self.home / "server.log"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if self.ui else "false",
            # Without it the UI served on this port would call port 4200's API.
            "PREFECT_UI_API_URL": self.api_url,
            **self.env,
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
                    *self.options,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
            )
        deadline = time.monotonic() + self.startup_timeout
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
            f"prefect server did not start in {self.startup_timeout} s; see {self.log_path}"
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


def start_prefect_server(home: Path, *, ui: bool = False) -> PrefectServer:
    server = PrefectServer(home=home, port=free_port(), ui=ui)
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
        if proxy.delay:  # a slow server
            time.sleep(proxy.delay)
        with proxy.lock:
            proxy.requests[(self.command, self.path.split("?")[0])] += 1
        if self.headers.get("Upgrade", "").lower() == "websocket":
            # Prefect's client streams its events over a websocket (/api/events/in): relay
            # it byte for byte, as a load balancer does, rather than fail it (its client
            # would retry, and wait, and count as slower than it is).
            self._tunnel()
            return
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
        }
        upstream = proxy.client.request(
            self.command, proxy.upstream + self.path, headers=headers, content=body
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

    def _tunnel(self) -> None:
        """Relay this connection to the upstream server, both ways, until either closes."""
        import select
        from urllib.parse import urlsplit

        self.close_connection = True
        target = urlsplit(self.server.upstream)
        host, port = target.hostname or "127.0.0.1", target.port or 80
        lines = [f"{self.command} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() != "host"]
        client = self.connection
        with socket.create_connection((host, port), timeout=30) as upstream:
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            upstream.settimeout(None)
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 60)
                for sock in readable:
                    try:
                        chunk = sock.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    (upstream if sock is client else client).sendall(chunk)

    def log_message(self, format: str, *args: object) -> None:
        pass  # request lines carry block names only, but keep test output quiet


class CountingProxy(http.server.ThreadingHTTPServer):
    """An HTTP reverse proxy in front of a real server that counts requests per path."""

    daemon_threads = True
    # The listen backlog: socketserver's default of 5 drops the connections of a fleet
    # starting at once (bench/fleet.py: 128 processes), whose clients then wait a second
    # to retry: a delay of the proxy's, not of the server's.
    request_queue_size = 1024

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.rstrip("/")
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        #: Seconds each request waits before it is forwarded (0: none).
        self.delay = 0.0
        # One pool of upstream connections for every handler thread (httpx.Client is
        # thread-safe): a new client per request would cost the proxy a TLS context and a
        # TCP connection each time, an overhead the server does not have.
        self.client = httpx.Client(
            timeout=30, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )

    def server_close(self) -> None:
        super().server_close()
        self.client.close()

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (its timeout) before the answer came: not the proxy's error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

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


class FaultyServer:
    """A tiny HTTP server on 127.0.0.1 that misbehaves on purpose.

    behaviour: "500", "401", "403", "429", "hang" (reads the request, never
    answers), "trickle" (sends a 200's headers, then one byte of the body every
    0.1 s for 30 s: no single read ever times out), "close-mid-response" (sends
    half a response, then closes),
    "reset" (closes with a TCP RST), "not-json" (200, an HTML page said to be JSON),
    "web-page" (200, an HTML page: what Prefect 3.4's server answers outside its API).
    Counts the requests it received.
    """

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/api"

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            with self._lock:
                self.requests += 1
            self._respond(connection)
        except OSError:
            pass

    def _respond(self, connection: socket.socket) -> None:
        behaviour = self.behaviour
        if behaviour == "hang":
            self._stopping.wait(120)
            return
        if behaviour == "trickle":
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n"
            )
            for _ in range(300):  # 30 s at most, then it closes: a test without a deadline fails
                if self._stopping.wait(0.1):
                    break
                connection.sendall(b" ")
            connection.close()
            return
        if behaviour == "reset":
            import struct

            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
            return
        if behaviour == "close-mid-response":
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b'Content-Length: 500\r\n\r\n{"data": {"val'
            )
            connection.close()
            return
        status, body, extra = {
            "500": (b"500 Internal Server Error", b'{"detail": "boom"}', b""),
            "401": (b"401 Unauthorized", b'{"detail": "Unauthorized"}', b""),
            "403": (b"403 Forbidden", b'{"detail": "Forbidden"}', b""),
            "429": (b"429 Too Many Requests", b'{"detail": "slow down"}', b"Retry-After: 0\r\n"),
            "not-json": (b"200 OK", b"<html>a login page</html>", b""),
            "web-page": (b"200 OK", b"<html>the Prefect UI</html>", b""),
        }[behaviour]
        kind = b"text/html; charset=utf-8" if behaviour == "web-page" else b"application/json"
        connection.sendall(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: "
            + kind
            + b"\r\n"
            + extra
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        connection.close()

    def close(self) -> None:
        self._stopping.set()
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._connections:
            with suppress(OSError):
                connection.close()


class TcpProxy:
    """A TCP proxy to `upstream` (host, port) that can delay, drop or reset connections.

    mode: "pass", "delay" (wait `delay` seconds before forwarding each
    connection), "drop" (accept and close at once), "reset" (accept and send
    a TCP RST). `down()` stops listening (connection refused); `up()` listens
    again on the same port.
    """

    def __init__(self, upstream: tuple[str, int], mode: str = "pass", delay: float = 0.0) -> None:
        self.upstream = upstream
        self.mode = mode
        self.delay = delay
        self.connections = 0
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and cut every open connection, as a dead server would."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone
            # would leave the kernel socket listening until it returns.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for sock in list(self._open):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()
        self._open.clear()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        import struct

        if self.mode == "drop":
            client.close()
            return
        if self.mode == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        if self.mode == "delay":
            time.sleep(self.delay)
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._open.update((client, upstream))

        def pump(source: socket.socket, target: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    target.sendall(chunk)
            except OSError:
                pass
            finally:
                for sock in (source, target):
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        pump(upstream, client)
        client.close()
        upstream.close()

    def close(self) -> None:
        self.down()
