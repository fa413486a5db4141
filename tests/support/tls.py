"""Throwaway TLS material, and the small threaded HTTP(S) server our fake identity providers share.

Why it exists: the OAuth2, GCE metadata and Kubernetes test servers (`oauth2.py`,
`gce_metadata.py`, `kubernetes.py`) all need the same plumbing -- a real socket on 127.0.0.1,
optional HTTPS with a CA the client is told to trust, per-endpoint request counts, and fault
injection (slow answers, 5xx for the next N requests, stop listening) -- so it lives here once.

Certificates::

    ca = make_ca()                                  # EC P-256 root, valid for a day
    cert = ca.issue(["127.0.0.1", "localhost"])     # leaf for a server
    ca.write_pem(tmp_path / "ca.crt")               # what the client trusts

Servers subclass `LocalServer` and implement `route()`; see the three modules above.
"""

from __future__ import annotations

import datetime
import email.message
import ipaddress
import json
import os
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# --------------------------------------------------------------------------- certificates

_ONE_DAY = datetime.timedelta(days=1)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prefect-secrets tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class ServerCertificate:
    """A leaf certificate and its key, issued by a `CertificateAuthority`."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate (TLS 1.2+)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain only reads files; keep the key file private and short-lived.
        with tempfile.TemporaryDirectory(prefix="fake-tls-") as tmp:
            cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            cert_file.write_bytes(self.cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(self.key_pem)
            context.load_cert_chain(cert_file, key_file)
        return context


@dataclass(frozen=True)
class CertificateAuthority:
    """A throwaway root CA. Clients trust `cert_pem` (or the file `write_pem` makes)."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write_pem(self, path: Path) -> Path:
        """Write the CA certificate (PEM) to `path`, e.g. a pod's `ca.crt`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.cert_pem)
        return path

    def issue(self, hosts: Sequence[str], common_name: str | None = None) -> ServerCertificate:
        """A server certificate for `hosts` (DNS names or IP addresses, all put in the SAN)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name or hosts[0]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _ONE_DAY)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return ServerCertificate(
            cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(key),
            ca_pem=self.cert_pem,
        )


def make_ca(common_name: str = "fake-test-ca") -> CertificateAuthority:
    """A fresh root CA (EC P-256, valid for a day): cheap, so make one per server."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _ONE_DAY)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key=key, certificate=certificate)


def self_signed_certificate_pem(key: rsa.RSAPrivateKey, common_name: str) -> str:
    """A self-signed X.509 certificate for a signing key, as Google publishes its token keys
    (`https://www.googleapis.com/oauth2/v1/certs` maps key ids to such PEM certificates)."""
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _ONE_DAY)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def rsa_private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM of an RSA key (the format of a Google service-account key's `private_key`)."""
    return _key_pem(key).decode()


# --------------------------------------------------------------------------- HTTP plumbing


@dataclass
class HttpRequest:
    """What a `LocalServer` route sees of one request (headers are case-insensitive)."""

    method: str
    target: str
    headers: email.message.Message
    body: bytes
    #: The host a CONNECT tunnel named, when the request came through one (whose TLS this
    #: server terminated); None for direct requests.
    tunnelled_host: str | None = None
    path: str = field(init=False)
    query: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)

    def arg(self, name: str) -> str | None:
        """The first value of query parameter `name`, if any."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def form(self) -> dict[str, list[str]]:
        """The body as application/x-www-form-urlencoded parameters."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

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
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()
    ) -> HttpResponse:
        return cls(
            status,
            json.dumps(payload).encode(),
            [("Content-Type", "application/json"), *headers],
        )

    @classmethod
    def text(
        cls,
        status: int,
        text: str,
        content_type: str = "text/plain; charset=utf-8",
        headers: Iterable[tuple[str, str]] = (),
    ) -> HttpResponse:
        return cls(status, text.encode(), [("Content-Type", content_type), *headers])


Handler = Callable[[HttpRequest], HttpResponse]


@dataclass
class _Fault:
    remaining: int
    status: int
    endpoint: str | None


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    # HTTP/1.1 keeps connections alive, as the real servers do: pooled clients (requests,
    # httpx) then reuse them, which is what stop_listening() must cut.
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.tunnelled_host: str | None = None
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def switch_to_tls(self, context: ssl.SSLContext, host: str) -> None:
        """Terminate TLS on this connection (after answering CONNECT), then keep serving."""
        tls = context.wrap_socket(self.connection, server_side=True)
        self.server.owner._track(tls)
        self.connection = self.request = tls
        self.rfile = tls.makefile("rb", self.rbufsize)  # type: ignore[assignment]
        self.wfile = socketserver._SocketWriter(tls)  # type: ignore[attr-defined]
        self.tunnelled_host = host
        self.close_connection = False

    def finish(self) -> None:
        super().finish()
        if self.tunnelled_host is not None:  # socketserver only closes the raw socket
            self.server.owner._untrack(self.connection)
            with suppress(OSError):
                self.connection.close()

    def do_CONNECT(self) -> None:
        self.server.owner._connect(self, self.path)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = HttpRequest(self.command, self.path, self.headers, body, self.tunnelled_host)
        response = self.server.owner._respond(request)
        if response is None:  # the connection was cut on purpose
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        pass  # request lines can carry tokens or audiences: keep them out of test output


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: LocalServer, port: int, context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.context = context
        super().__init__(("127.0.0.1", port), _RequestHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.context is not None:
            # The handshake runs in the handler's thread (setup), so one stalled client
            # cannot block accept().
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.owner._track(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        self.owner._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up, refuse our certificate, or are cut by stop_listening(): all
        # OSErrors (SSLError, ConnectionResetError, BrokenPipeError, TimeoutError...) are
        # expected. Anything else is kept for the test to inspect rather than printed.
        if not isinstance(sys.exc_info()[1], OSError):
            self.owner.errors.append(traceback.format_exc())


class LocalServer:
    """Base class: a threaded HTTP(S) server on 127.0.0.1 with counts and fault injection.

    Subclasses implement `route(request) -> (endpoint name, handler) | None`. Every request
    that reaches a route is counted under its endpoint name in `requests` -- including those
    answered by an injected fault, since the client did make them.

    Faults, all settable while the server runs:

    * `delay` -- seconds to wait before answering each request ("slow server").
    * `fail_next(n, status=503, endpoint=None)` -- answer the next `n` requests (to one
      endpoint, or any) with `status`, in the body format of the protocol (`fault_response`).
    * `stop_listening()` -- close the listening socket and cut open connections: new
      connections are refused, as from a dead server. `resume_listening()` binds the same
      port again.

    Unexpected exceptions in handlers become a 500 and are kept in `errors` (a test can
    assert it is empty); nothing is logged, so no token or secret reaches the test output.
    """

    def __init__(self, *, tls: ServerCertificate | None = None, port: int = 0) -> None:
        self.tls = tls
        self._context = tls.ssl_context() if tls is not None else None
        self._lock = threading.Lock()
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._faults: list[_Fault] = []
        self._closing = threading.Event()
        self.requests: Counter[str] = Counter()
        self.delay = 0.0
        self.errors: list[str] = []

    # -- lifecycle

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self (servers are context managers)."""
        self._closing.clear()
        self._listen()
        return self

    def close(self) -> None:
        """Stop serving and cut every connection."""
        self._closing.set()
        self.stop_listening()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        """Origin of the server, e.g. http://127.0.0.1:43125 (no trailing slash)."""
        return f"{self.scheme}://127.0.0.1:{self._port}"

    @property
    def listening(self) -> bool:
        return self._httpd is not None

    def _listen(self) -> None:
        httpd = _HTTPServer(self, self._port, self._context)
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop_listening(self) -> None:
        """Refuse new connections and cut open ones (keep-alive included)."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()

    def resume_listening(self) -> None:
        """Listen again on the same port after `stop_listening()`."""
        if self._httpd is None:
            self._listen()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    # -- counts and faults

    def count(self, endpoint: str) -> int:
        with self._lock:
            return self.requests[endpoint]

    def reset_counts(self) -> None:
        """Forget the requests counted so far (e.g. those made to set a test up)."""
        with self._lock:
            self.requests.clear()

    def fail_next(self, n: int, status: int = 503, *, endpoint: str | None = None) -> None:
        """Answer the next `n` requests (to `endpoint`, or to any) with HTTP `status`."""
        with self._lock:
            self._faults.append(_Fault(n, status, endpoint))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
        self.delay = 0.0

    def _take_fault(self, endpoint: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.endpoint in (None, endpoint):
                    fault.remaining -= 1
                    return fault.status
            self._faults = [f for f in self._faults if f.remaining > 0]
        return None

    # -- what subclasses provide

    def route(self, request: HttpRequest) -> tuple[str, Handler] | None:
        """The endpoint name and handler for `request`, or None (answered by `not_found`)."""
        raise NotImplementedError

    def not_found(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(404, "404 page not found\n")

    def fault_response(self, status: int, endpoint: str) -> HttpResponse:
        """The body an injected `status` carries; subclasses use their protocol's format."""
        return HttpResponse.text(status, f"fake fault {status}\n")

    def connect_hosts(self) -> dict[str, ssl.SSLContext]:
        """Hosts this server will terminate CONNECT tunnels for (as an HTTPS proxy)."""
        return {}

    # -- dispatch (handler threads)

    def _respond(self, request: HttpRequest) -> HttpResponse | None:
        routed = self.route(request)
        endpoint = routed[0] if routed else "unknown"
        with self._lock:
            self.requests[endpoint] += 1
        if self.delay > 0 and self._closing.wait(self.delay):
            return None
        status = self._take_fault(endpoint)
        if status is not None:
            return self.fault_response(status, endpoint)
        if routed is None:
            return self.not_found(request)
        try:
            return routed[1](request)
        except Exception:  # noqa: BLE001 -- a bug in a fake server must fail the test, not hang it
            self.errors.append(traceback.format_exc())
            return HttpResponse.text(500, "fake server error; see server.errors\n")

    def _connect(self, handler: _RequestHandler, authority: str) -> None:
        host, _, port = authority.rpartition(":")
        context = self.connect_hosts().get(host)
        with self._lock:
            self.requests["proxy:CONNECT"] += 1
        if context is None or port != "443":
            handler.send_response(403, "Forbidden")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            handler.close_connection = True
            return
        handler.send_response(200, "Connection established")
        handler.end_headers()
        handler.wfile.flush()
        handler.switch_to_tls(context, host)


def proxy_environment(proxy_url: str, ca_file: Path) -> dict[str, str]:
    """Environment that sends `requests`' HTTPS traffic through `proxy_url`, trusting `ca_file`.

    NO_PROXY keeps 127.0.0.1/localhost direct, so other local servers are unaffected.
    """
    no_proxy = ",".join(
        filter(None, ["127.0.0.1", "localhost", os.environ.get("NO_PROXY", "")])
    ).strip(",")
    return {
        "HTTPS_PROXY": proxy_url,
        "https_proxy": proxy_url,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
        "REQUESTS_CA_BUNDLE": str(ca_file),
    }
