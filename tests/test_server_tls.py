"""TLS to the Prefect server: verified as strictly as Prefect's own client, and the CA store
loaded only where a TLS handshake can happen (loading it costs each process 65 ms of CPU)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._server.endpoint import Endpoint
from prefect_secrets._server.transport import ApiTransport, tls_context
from tests.support.fake_http import TlsMaterial


def endpoint(api_url: str, **tls: object) -> Endpoint:
    return Endpoint(api_url=api_url, headers=(), **tls)  # type: ignore[arg-type]


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"true" if self.path == "/api/health" else b"null"
        self.send_response(200 if self.path == "/api/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_server() -> Iterator[tuple[str, Path]]:
    """A real HTTPS server on 127.0.0.1, its certificate signed by a throwaway CA: (its API
    URL, the CA's certificate file, to trust or not)."""
    tls = TlsMaterial.generate()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/api", tls.ca_file
    finally:
        server.shutdown()
        server.server_close()
        tls.cleanup()


def ask_health(server: Endpoint) -> object:
    """GET /health through the library's transport to `server`, closed afterwards."""
    transport = ApiTransport(server)
    try:
        response = transport.request("GET", "health", what="checking", timeout=5, retries=0)
        return response.json()
    finally:
        transport.close()


def test_a_server_whose_certificate_is_trusted_answers(https_server: tuple[str, Path]) -> None:
    api_url, cert_file = https_server
    assert ask_health(endpoint(api_url, ca_file=str(cert_file))) is True


def test_an_untrusted_certificate_is_refused_naming_the_server(
    https_server: tuple[str, Path],
) -> None:
    api_url, _ = https_server
    with pytest.raises(SecretSourceError) as raised:
        ask_health(endpoint(api_url))
    message = str(raised.value)
    assert api_url in message
    assert "certificate" in message.lower()


def test_skip_verify_reaches_an_untrusted_server(https_server: tuple[str, Path]) -> None:
    """PREFECT_API_TLS_INSECURE_SKIP_VERIFY, as Prefect's client honours it."""
    api_url, _ = https_server
    assert ask_health(endpoint(api_url, tls_insecure=True)) is True


def test_plain_http_loads_no_ca_store_and_still_fails_closed(
    https_server: tuple[str, Path],
) -> None:
    _, cert_file = https_server
    context = tls_context(endpoint("http://127.0.0.1:4200/api", ca_file=str(cert_file)), {})
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("api_url", "environ"),
    [
        ("https://prefect.example.invalid/api", {}),
        ("HTTPS://prefect.example.invalid/api", {}),
        ("http://prefect.internal/api", {"HTTP_PROXY": "https://proxy.example.invalid:3128"}),
        ("http://prefect.internal/api", {"all_proxy": "HTTPS://proxy.example.invalid:3128"}),
    ],
)
def test_tls_to_the_server_or_its_proxy_loads_the_ca_store(
    api_url: str, environ: dict[str, str], https_server: tuple[str, Path]
) -> None:
    _, cert_file = https_server
    context = tls_context(endpoint(api_url, ca_file=str(cert_file)), environ)
    assert context.cert_store_stats()["x509_ca"] == 1
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_a_plain_http_proxy_needs_no_ca_store(https_server: tuple[str, Path]) -> None:
    _, cert_file = https_server
    environ = {"HTTP_PROXY": "http://proxy.internal:3128", "HTTPS_PROXY": "https://p.invalid"}
    context = tls_context(endpoint("http://prefect.internal/api", ca_file=str(cert_file)), environ)
    assert context.cert_store_stats()["x509_ca"] == 0
