"""A base for the in-memory fake HTTP(S) servers our tests talk to, with fault injection.

The cloud-secret fakes (`gcp.py`, `azure.py`) subclass `FakeHttpServer` and only describe
their routes; the AWS and Vault helpers put a `ReverseProxy` (a `FakeHttpServer` that
forwards) in front of the real moto / OpenBao server. Either way every server gets the
same, protocol-independent faults and request counts, so a test of "the library gives up
after its deadline" reads the same for every source::

    with GcpSecretManagerServer() as gcp:          # any FakeHttpServer subclass
        gcp.fail_next(2, 503)                       # next 2 requests: the protocol's 503 body
        gcp.fail_next(1, 429, headers={"Retry-After": "0"}, route="versions.access")
        gcp.delay(0.5)                              # every response 0.5 s late
        gcp.hang()                                  # read requests, never answer
        gcp.trickle(1)                              # answer 1 byte per second
        gcp.refuse(); gcp.accept()                  # connection refused, then back
        gcp.clear_faults()
        assert gcp.count("GET", "versions.access") == 1   # per (method, route name)
        gcp.reset_counts()

With `tls=True` the server listens on https with a throwaway CA made at start
(`ca_file`, or `ca_bundle` = certifi's roots + ours for env vars such as
REQUESTS_CA_BUNDLE that replace the default trust store).

`ConnectProxy` is an HTTPS (CONNECT) proxy that sends chosen real host names (e.g.
`login.microsoftonline.com`) to a local fake, so an SDK can run with its default
endpoints and only HTTPS_PROXY + a CA bundle set. It never connects anywhere but
127.0.0.1.

The servers log nothing: request lines may name secrets, bodies hold their values.
"""

from __future__ import annotations

import datetime
import fnmatch
import http.client
import http.server
import ipaddress
import json
import re
import select
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any, Self

#: Seconds a client may take for the TLS handshake before we drop it.
HANDSHAKE_TIMEOUT = 10.0
#: Headers that belong to one hop and must not be forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


# --------------------------------------------------------------------------- TLS


@dataclass
class TlsMaterial:
    """A throwaway CA and a server certificate it signed, written to a temporary folder.

    Made fresh per server so no test trusts anything beyond its own fake. EC P-256 keys:
    generating them takes milliseconds, RSA would add ~100 ms per start.
    """

    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path
    #: certifi's roots plus our CA: for REQUESTS_CA_BUNDLE / SSL_CERT_FILE, which replace
    #: (not extend) the default trust store.
    ca_bundle: Path
    hostnames: tuple[str, ...]

    @classmethod
    def generate(cls, hostnames: Iterable[str] = ()) -> TlsMaterial:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        names = tuple(dict.fromkeys(["localhost", "127.0.0.1", *hostnames]))
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        alt_names: list[x509.GeneralName] = []
        for name in names:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt_names.append(x509.DNSName(name))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        directory = Path(tempfile.mkdtemp(prefix="fake-tls-"))
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        (directory / "ca.pem").write_bytes(ca_pem)
        (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / "server-key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        try:
            import certifi

            roots = Path(certifi.where()).read_bytes()
        except ImportError:  # pragma: no cover - requests depends on certifi
            roots = b""
        (directory / "bundle.pem").write_bytes(roots.rstrip(b"\n") + b"\n" + ca_pem)
        return cls(
            directory=directory,
            ca_file=directory / "ca.pem",
            cert_file=directory / "server.pem",
            key_file=directory / "server-key.pem",
            ca_bundle=directory / "bundle.pem",
            hostnames=names,
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only our CA (for helpers that call the fake)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def cleanup(self) -> None:
        for path in self.directory.iterdir():
            path.unlink(missing_ok=True)
        with suppress(OSError):
            self.directory.rmdir()


# --------------------------------------------------------------------------- requests


@dataclass
class Request:
    """One HTTP request as a route handler sees it."""

    method: str
    #: The path as sent (still percent-encoded), without the query.
    raw_path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    #: The query string as sent (proxies forward it byte for byte: AWS signs it).
    raw_query: str = ""
    #: Route name (see `FakeHttpServer.add_route`) and the route's decoded path parameters.
    route: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urllib.parse.unquote(self.raw_path)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer ...` header, if any."""
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None


@dataclass
class Response:
    """What a route handler answers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


Handler = Callable[[Request], Response]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler


@dataclass
class _Fault:
    kind: str  # "fail", "delay", "hang", "trickle"
    route: str | None
    remaining: int | None = None  # for "fail": how many requests are left to fail
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    seconds: float = 0.0
    bytes_per_second: float = 0.0

    def applies_to(self, route: str) -> bool:
        return self.route is None or fnmatch.fnmatchcase(route, self.route)


# --------------------------------------------------------------------------- the server


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeHttpServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshakes happen here, in the connection's own thread, so a client that
        # connects and never handshakes cannot stall the accept loop.
        tls = self.owner.tls
        if tls is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                request = self.owner._ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                with suppress(OSError):
                    request.close()
                return
            request.settimeout(None)
            try:
                super().finish_request(request, client_address)
            finally:
                # socketserver closes the raw socket it accepted, which wrap_socket detached:
                # the SSL socket is ours to close.
                with suppress(OSError):
                    request.close()
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-request is normal in fault tests; stay quiet


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection)

    def finish(self) -> None:
        with suppress(OSError):
            super().finish()
        self.server.owner._untrack(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        pass  # request lines can carry secret names: log nothing

    def _dispatch(self) -> None:
        self.server.owner._serve_one(self)

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler looks up do_<METHOD>: serve every method (Vault uses LIST).
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class Managed:
    """A server the tests start and stop: `with Server() as server:` does both."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class FakeHttpServer(Managed):
    """An HTTP(S) server on 127.0.0.1 in a daemon thread, with routes, counts and faults.

    Subclasses register routes with `add_route` and may override `error_response` so that
    injected failures carry the protocol's own error body, and `route_not_found`.
    State that handlers share must be guarded with `self.lock` (requests run in threads).
    """

    def __init__(self, *, tls: bool = False, hostnames: Iterable[str] = ()) -> None:
        self.lock = threading.RLock()
        self._routes: list[_Route] = []
        self._faults: list[_Fault] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        #: Every request seen, as (method, route name, path without query).
        self.requests: list[tuple[str, str, str]] = []
        self._want_tls = tls
        self._hostnames = tuple(hostnames)
        self.tls: TlsMaterial | None = None
        self._ssl_context: ssl.SSLContext
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._release = threading.Event()  # set to free hung / trickling requests
        self.port = 0
        self.started_in = 0.0  #: seconds `start()` took

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Self:
        began = time.monotonic()
        if self._want_tls and self.tls is None:
            self.tls = TlsMaterial.generate(self._hostnames)
            self._ssl_context = self.tls.server_context()
        self._listen()
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        self._release.set()
        self._unlisten()
        if self.tls is not None:
            self.tls.cleanup()
            self.tls = None

    def _listen(self) -> None:
        httpd = _HttpServer(("127.0.0.1", self.port), _RequestHandler)
        httpd.owner = self
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._release = threading.Event()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _unlisten(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self.lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                connection.close()

    def _track(self, connection: socket.socket) -> None:
        with self.lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self.lock:
            self._connections.discard(connection)

    @property
    def scheme(self) -> str:
        return "https" if self._want_tls else "http"

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT (no trailing slash)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        """Path of the PEM CA that signed our certificate (TLS servers only)."""
        if self.tls is None:
            raise RuntimeError("this server was not started with tls=True")
        return str(self.tls.ca_file)

    @property
    def ca_bundle(self) -> str:
        """certifi's roots plus our CA, for REQUESTS_CA_BUNDLE / SSL_CERT_FILE."""
        if self.tls is None:
            raise RuntimeError("this server was not started with tls=True")
        return str(self.tls.ca_bundle)

    # -- routes ------------------------------------------------------------------

    def add_route(self, method: str, pattern: str, name: str, handler: Handler) -> None:
        """Serve `method` on paths fully matching the regex `pattern` (matched against the
        percent-encoded path; named groups are decoded into `Request.params`)."""
        self._routes.append(_Route(method.upper(), re.compile(pattern), name, handler))

    def route_of(self, method: str, raw_path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """The route for a request, its params, and whether the path matched another method."""
        path_matched = False
        for route in self._routes:
            match = route.pattern.fullmatch(raw_path)
            if match is None:
                continue
            path_matched = True
            if route.method == method:
                params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items() if v}
                return route, params, True
        return None, {}, path_matched

    def route_name(self, request: Request) -> str:
        """The name requests are counted under when no route matched (proxies override)."""
        return request.raw_path

    def handle(self, request: Request) -> Response:
        """Answer one request (after faults). Proxies override this to forward."""
        route, params, path_matched = self.route_of(request.method, request.raw_path)
        if route is None:
            if path_matched:
                return self.error_response(405, f"method {request.method} not allowed")
            return self.route_not_found(request)
        request.params = params
        return route.handler(request)

    def error_response(self, status: int, message: str) -> Response:
        """The protocol's error body for `status` (injected failures use it)."""
        return Response.json(status, {"error": {"code": status, "message": message}})

    def route_not_found(self, request: Request) -> Response:
        return self.error_response(404, f"no route for {request.method} {request.raw_path}")

    # -- counting ----------------------------------------------------------------

    def count(self, method: str | None = None, route: str | None = None) -> int:
        """Requests received (including failed and hung ones), optionally only those with
        this method and/or a route name matching the glob `route`."""
        with self.lock:
            return sum(
                n
                for (m, r), n in self._counts.items()
                if (method is None or m == method.upper())
                and (route is None or fnmatch.fnmatchcase(r, route))
            )

    @property
    def counts(self) -> dict[tuple[str, str], int]:
        """Requests received per (method, route name)."""
        with self.lock:
            return dict(self._counts)

    def total(self) -> int:
        return self.count()

    def reset_counts(self) -> None:
        """Forget the requests seen so far (e.g. those a test made to set itself up)."""
        with self.lock:
            self._counts.clear()
            self.requests.clear()

    # -- faults ------------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        route: str | None = None,
    ) -> None:
        """Answer the next `n` requests with `status`, without touching the server's state.

        `route` (a glob over route names, e.g. "versions.*") limits it to some requests.
        The body defaults to the protocol's error body for that status (`error_response`);
        a dict is sent as JSON; `headers` are added (e.g. {"Retry-After": "0"}).
        """
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        with self.lock:
            self._faults.append(
                _Fault("fail", route, remaining=n, status=status, headers=headers or {}, body=body)
            )

    def delay(self, seconds: float, *, route: str | None = None) -> None:
        """Wait `seconds` before every answer (to routes matching `route`, if given)."""
        with self.lock:
            self._faults.append(_Fault("delay", route, seconds=seconds))

    def hang(self, *, route: str | None = None) -> None:
        """Read every request (to routes matching `route`, if given), never answer it. Hung
        connections are closed, unanswered, by `clear_faults`, `refuse` or `stop`."""
        with self.lock:
            self._faults.append(_Fault("hang", route))

    def trickle(self, bytes_per_second: float, *, route: str | None = None) -> None:
        """Send every answer (status line and headers included) `bytes_per_second` bytes a
        second, one byte at a time: each read sees progress, so only a total deadline ends
        it."""
        with self.lock:
            self._faults.append(_Fault("trickle", route, bytes_per_second=bytes_per_second))

    def clear_faults(self) -> None:
        """Behave normally again; close connections left hanging or trickling."""
        with self.lock:
            self._faults.clear()
            release, self._release = self._release, threading.Event()
        release.set()

    def refuse(self) -> None:
        """Stop listening and cut open connections: clients get connection refused."""
        self._release.set()
        self._unlisten()

    def accept(self) -> None:
        """Listen again on the same port after `refuse()`."""
        if self._httpd is None:
            self._listen()

    def _take_faults(self, route: str) -> list[_Fault]:
        """The faults for one request, consuming one use of the first matching fail_next."""
        chosen: list[_Fault] = []
        with self.lock:
            failed = False
            for fault in list(self._faults):
                if not fault.applies_to(route):
                    continue
                if fault.kind == "fail":
                    if failed:
                        continue
                    failed = True
                    assert fault.remaining is not None
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                chosen.append(fault)
        return chosen

    # -- serving -----------------------------------------------------------------

    def _serve_one(self, handler: _RequestHandler) -> None:
        body = handler.read_body()
        split = urllib.parse.urlsplit(handler.path)
        request = Request(
            method=handler.command,
            raw_path=split.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers=handler.headers,
            body=body,
            raw_query=split.query,
        )
        route, _, _ = self.route_of(request.method, request.raw_path)
        request.route = route.name if route is not None else self.route_name(request)
        with self.lock:
            self._counts[(request.method, request.route)] += 1
            self.requests.append((request.method, request.route, request.raw_path))
            release = self._release
        faults = self._take_faults(request.route)
        kinds = {fault.kind for fault in faults}
        if "hang" in kinds:
            release.wait()
            handler.close_connection = True
            return
        for fault in faults:
            if fault.kind == "delay" and release.wait(fault.seconds):
                handler.close_connection = True
                return
        failure = next((f for f in faults if f.kind == "fail"), None)
        if failure is not None:
            response = self.error_response(failure.status, "injected failure")
            if failure.body is not None:
                response.body = failure.body
            response.headers.update(failure.headers)
        else:
            try:
                response = self.handle(request)
            except Exception as error:  # noqa: BLE001 - a handler bug must answer 500, not hang
                response = self.error_response(500, f"fake server error: {type(error).__name__}")
        trickle = next((f for f in faults if f.kind == "trickle"), None)
        self._send(handler, request, response, trickle, release)

    def _send(
        self,
        handler: _RequestHandler,
        request: Request,
        response: Response,
        trickle: _Fault | None,
        release: threading.Event,
    ) -> None:
        reason = http.client.responses.get(response.status, "Unknown")
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        headers.setdefault("Date", handler.date_time_string())
        for name, value in headers.items():
            lines.append(f"{name}: {value}")
        no_body = request.method == "HEAD" or response.status in (204, 304)
        if response.status != 204:
            lines.append(f"Content-Length: {len(response.body)}")
        if handler.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not no_body:
            data += response.body
        try:
            if trickle is None:
                handler.wfile.write(data)
                handler.wfile.flush()
                return
            pause = 1.0 / trickle.bytes_per_second
            for index in range(len(data)):
                handler.wfile.write(data[index : index + 1])
                handler.wfile.flush()
                if release.wait(pause):
                    break
            handler.close_connection = True
        except OSError:
            handler.close_connection = True


# --------------------------------------------------------------------------- proxies


class ReverseProxy(FakeHttpServer):
    """A `FakeHttpServer` that forwards every request, unchanged, to a real server.

    Put in front of moto or OpenBao it adds the same counts and faults the in-memory fakes
    have. The Host header is forwarded as the client sent it (AWS signatures cover it).
    Subclasses may override `route_name` to count by something other than the path, and
    `intercept` to answer some requests themselves.
    """

    def __init__(self, upstream: str, *, timeout: float = 60.0) -> None:
        super().__init__()
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.timeout = timeout

    def intercept(self, request: Request) -> Response | None:
        """Answer `request` here instead of forwarding it (None: forward)."""
        return None

    def rewrite(self, request: Request, response: Response) -> Response:
        """Change the upstream's answer before the client sees it."""
        return response

    def handle(self, request: Request) -> Response:
        answered = self.intercept(request)
        if answered is not None:
            return answered
        response = self.forward(request)
        return self.rewrite(request, response)

    def forward(self, request: Request) -> Response:
        path = request.raw_path
        if request.raw_query:
            path += "?" + request.raw_query
        connection = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.timeout
        )
        try:
            connection.putrequest(request.method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(request.body)))
            connection.endheaders(request.body)
            upstream = connection.getresponse()
            body = upstream.read()
            headers = {
                name: value
                for name, value in upstream.getheaders()
                if name.lower() not in HOP_BY_HOP and name.lower() != "date"
            }
            return Response(upstream.status, body, headers)
        except OSError:
            return self.error_response(502, "upstream unreachable")
        finally:
            connection.close()


class ConnectProxy(Managed):
    """An HTTPS proxy (CONNECT only) that tunnels chosen host names to local ports.

    `routes` maps a host name (exact, or "*.suffix") to a port on 127.0.0.1. Any other
    CONNECT target, and any plain-HTTP proxy request, gets 403: nothing leaves the machine.
    Point clients at it with HTTPS_PROXY=`url` (and a CA bundle that trusts the fake).
    """

    def __init__(self, routes: dict[str, int] | None = None) -> None:
        self.routes: dict[str, int] = dict(routes or {})
        self.tunnels: Counter[str] = Counter()  #: CONNECTs accepted per host
        self.refused: Counter[str] = Counter()  #: CONNECTs refused per host
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self.port = 0

    def start(self) -> Self:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with suppress(OSError):
                sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def target_port(self, host: str) -> int | None:
        host = host.lower()
        for pattern, port in self.routes.items():
            pattern = pattern.lower()
            if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return port
        return None

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with self._lock:
            self._open.add(client)
        upstream: socket.socket | None = None
        try:
            client.settimeout(HANDSHAKE_TIMEOUT)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk or len(head) > 65536:
                    return
                head += chunk
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, _, rest = request_line.partition(" ")
            authority = rest.split(" ", 1)[0]
            host = authority.rsplit(":", 1)[0].strip("[]")
            port = self.target_port(host) if method.upper() == "CONNECT" else None
            if port is None:
                with self._lock:
                    self.refused[host] += 1
                client.sendall(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError:
                client.sendall(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            with self._lock:
                self.tunnels[host] += 1
                self._open.add(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            client.settimeout(None)
            upstream.settimeout(None)
            self._pump(client, upstream)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with suppress(OSError):
                        sock.close()
                    with self._lock:
                        self._open.discard(sock)

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while True:
            readable, _, _ = select.select(list(peers), [], [], 1.0)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)


class ProxiedServer(Managed):
    """Fault and count controls for a real server run behind a `ReverseProxy`.

    Subclasses set `self.proxy` once started; these methods forward to it, so a test
    treats moto or OpenBao like any in-memory fake (`route` is a glob over the proxy's
    route names).
    """

    proxy: ReverseProxy | None

    @property
    def _proxy(self) -> ReverseProxy:
        if self.proxy is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self.proxy

    @property
    def url(self) -> str:
        """The endpoint clients use: the counting, faulty proxy."""
        return self._proxy.url

    def count(self, method: str | None = None, route: str | None = None) -> int:
        """Requests the proxy saw (see `FakeHttpServer.count`)."""
        return self._proxy.count(method, route)

    @property
    def counts(self) -> dict[tuple[str, str], int]:
        return self._proxy.counts

    def reset_counts(self) -> None:
        self._proxy.reset_counts()

    def fail_next(
        self,
        n: int,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        route: str | None = None,
    ) -> None:
        self._proxy.fail_next(n, status, headers=headers, body=body, route=route)

    def delay(self, seconds: float, *, route: str | None = None) -> None:
        self._proxy.delay(seconds, route=route)

    def hang(self, *, route: str | None = None) -> None:
        self._proxy.hang(route=route)

    def trickle(self, bytes_per_second: float, *, route: str | None = None) -> None:
        self._proxy.trickle(bytes_per_second, route=route)

    def clear_faults(self) -> None:
        self._proxy.clear_faults()

    def refuse(self) -> None:
        """Connection refused (the proxy stops listening; the real server keeps its data)."""
        self._proxy.refuse()

    def accept(self) -> None:
        self._proxy.accept()
