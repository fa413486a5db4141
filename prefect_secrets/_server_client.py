"""A thin HTTP client for the Prefect API's block documents, built from Prefect's settings.

Why not Prefect's own client: it defaults to a 60 s timeout, retries on its
own schedule, opens a new connection pool per `get_client()` and checks the
server version on entry. A secret lookup needs one request, a short timeout,
a bounded number of retries, and one connection pool per process. The URL,
credentials, TLS options and custom headers are Prefect's own settings
(`PREFECT_API_URL`, `PREFECT_API_KEY`, `PREFECT_API_AUTH_STRING`, profiles,
`PREFECT_API_TLS_INSECURE_SKIP_VERIFY`, `PREFECT_API_SSL_CERT_FILE`,
`PREFECT_CLIENT_CUSTOM_HEADERS`), read through Prefect, so a self-hosted
server, Prefect Cloud and Prefect's temporary server all work unchanged.

Error messages name the server and the block, never a response body (a
body can hold a value).
"""

from __future__ import annotations

import base64
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefect_secrets._errors import SecretSourceError
from prefect_secrets._sentinel import MISSING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import httpx

__all__ = ["BLOCK_TYPE_SLUG", "Endpoint", "ServerClient", "client_for", "current_endpoint"]

#: The slug of Prefect's standard `Secret` block type (`prefect.blocks.system.Secret`).
BLOCK_TYPE_SLUG = "secret"
_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_NOT_FOUND_DETAIL = "Block document not found"
_MAX_BACKOFF = 2.0
_DEFAULT_FILTER_LIMIT = 200


@dataclass(frozen=True)
class Endpoint:
    """Where the Prefect API is and how to talk to it. Its repr hides credentials."""

    api_url: str
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    tls_insecure: bool = False
    ca_file: str | None = None
    temporary: bool = False

    def __str__(self) -> str:
        return f"{self.api_url} (Prefect's temporary server)" if self.temporary else self.api_url


def current_endpoint() -> Endpoint:
    """The endpoint Prefect's own client would use here and now (imports prefect)."""
    global _last_endpoint
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    # Prefect hands out the same Settings object until settings change
    # (temporary_settings, a new profile): remember the endpoint built from it.
    last = _last_endpoint
    if last is not None and last[0] is settings:
        return last[1]
    endpoint = _endpoint_from(settings)
    if not endpoint.temporary:
        _last_endpoint = (settings, endpoint)
    return endpoint


_last_endpoint: tuple[object, Endpoint] | None = None


def _endpoint_from(settings: Any) -> Endpoint:
    from prefect.client.constants import SERVER_API_VERSION

    api_url = settings.api.url
    temporary = False
    if not api_url:
        if not settings.server.ephemeral.enabled:
            raise SecretSourceError(
                "the Prefect server is to be asked, but PREFECT_API_URL is not set and "
                "Prefect's temporary server is disabled (PREFECT_SERVER_ALLOW_EPHEMERAL_MODE)",
                source="server",
            )
        # The same per-process server that Prefect's get_client() starts; in a
        # flow run without PREFECT_API_URL it is already running.
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        api_url, temporary = server.api_url, True
    headers = {"X-PREFECT-API-VERSION": SERVER_API_VERSION}
    headers.update(settings.client.custom_headers or {})
    auth_string = settings.api.auth_string
    api_key = settings.api.key
    # Same precedence as Prefect's client: an auth string beats an API key.
    if auth_string is not None and auth_string.get_secret_value():
        token = base64.b64encode(auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif api_key is not None and api_key.get_secret_value():
        headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
    return Endpoint(
        api_url=str(api_url).rstrip("/"),
        headers=tuple(sorted(headers.items())),
        tls_insecure=bool(settings.api.tls_insecure_skip_verify),
        ca_file=settings.api.ssl_cert_file or None,
        temporary=temporary,
    )


class ServerClient:
    """One connection pool to one endpoint, shared by every thread of the process."""

    def __init__(self, endpoint: Endpoint) -> None:
        import ssl

        import httpx

        # The same TLS choices as Prefect's client (PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
        # PREFECT_API_SSL_CERT_FILE, which defaults to $SSL_CERT_FILE).
        if endpoint.tls_insecure:
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        else:
            tls = ssl.create_default_context(cafile=endpoint.ca_file)
        self.endpoint = endpoint
        self._http = httpx.Client(
            base_url=endpoint.api_url + "/",
            headers=dict(endpoint.headers),
            verify=tls,
            # Redirects would carry credentials to wherever they point.
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=16, max_keepalive_connections=8, keepalive_expiry=25
            ),
        )

        # Writes-like requests (our POST of the block filter) need a CSRF token
        # when the server enables CSRF protection; fetched on first refusal.
        self._csrf_headers: dict[str, str] = {}
        # The server caps `limit` (PREFECT_SERVER_API_DEFAULT_LIMIT, 200 by
        # default); learned from its 422 answer if it is lower.
        self._filter_limit = _DEFAULT_FILTER_LIMIT

    def close(self) -> None:
        self._http.close()

    def read_secret_block(self, block: str, *, timeout: float, retries: int) -> Any:
        """The stored `value` of Secret block `block`, or MISSING if there is none."""
        what = f"reading block '{BLOCK_TYPE_SLUG}/{block}'"
        response = self._request(
            "GET",
            f"block_types/slug/{BLOCK_TYPE_SLUG}/block_documents/name/{block}",
            params={"include_secrets": "true"},
            what=what,
            timeout=timeout,
            retries=retries,
        )
        if response.status_code == 404:
            if _detail(response) == _NOT_FOUND_DETAIL:
                return MISSING
            raise self._error(
                what,
                "answered 404 without Prefect's 'Block document not found': is "
                "PREFECT_API_URL the API's address (it usually ends in /api)?",
            )
        return self._block_value(response, what)

    def read_secret_blocks(
        self, blocks: Sequence[str], *, timeout: float, retries: int
    ) -> dict[str, Any]:
        """{block: value} of those of `blocks` that exist, in as few requests as the API allows.

        One POST to /block_documents/filter per `limit` names (200 by default).
        """
        found: dict[str, Any] = {}
        pending = list(dict.fromkeys(blocks))
        while pending:
            batch = pending[: self._filter_limit]
            what = f"reading {len(batch)} '{BLOCK_TYPE_SLUG}' blocks"
            response = self._request(
                "POST",
                "block_documents/filter",
                json={
                    "block_documents": {"name": {"any_": batch}, "is_anonymous": {"eq_": False}},
                    "block_types": {"slug": {"any_": [BLOCK_TYPE_SLUG]}},
                    "include_secrets": True,
                    "limit": len(batch),
                },
                what=what,
                timeout=timeout,
                retries=retries,
            )
            server_limit = _limit_from(response)
            if server_limit is not None and 0 < server_limit < len(batch):
                self._filter_limit = server_limit
                continue
            if response.status_code != 200:
                raise self._error(what, f"answered HTTP {response.status_code}")
            try:
                for document in response.json():
                    found[document["name"]] = document["data"]["value"]
            except (ValueError, KeyError, TypeError):
                raise self._error(
                    what, "answered with something that is not a list of block documents"
                ) from None
            pending = pending[len(batch) :]
        return found

    def _block_value(self, response: httpx.Response, what: str) -> Any:
        if response.status_code != 200:
            raise self._error(what, f"answered HTTP {response.status_code}")
        try:
            document = response.json()
            return document["data"]["value"]
        except (ValueError, KeyError, TypeError):
            raise self._error(
                what, "answered with something that is not a Secret block document"
            ) from None

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        timeout: float,
        retries: int,
        params: dict[str, str] | None = None,
        json: object = None,
    ) -> httpx.Response:
        """Send with bounded retries of transient failures; 401/403 are never retried."""
        import httpx

        failure = ""
        csrf_refreshed = False
        attempt = 0
        while attempt <= retries:
            retry_after = None
            headers = self._csrf_headers if method != "GET" else None
            try:
                response = self._http.request(
                    method, path, params=params, json=json, headers=headers, timeout=timeout
                )
            except httpx.TimeoutException:
                failure = f"no answer within {timeout:g} s"
            except httpx.ConnectError as exc:
                failure = f"cannot connect ({_reason(exc)})"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                failure = "the connection was closed mid-response"
            except httpx.TransportError as exc:
                failure = f"transport error ({type(exc).__name__})"
            else:
                status = response.status_code
                if (
                    status == 403
                    and method != "GET"
                    and not csrf_refreshed
                    and _is_csrf_refusal(response)
                ):
                    csrf_refreshed = True
                    self._refresh_csrf_token(what=what, timeout=timeout)
                    continue
                if status in (401, 403):
                    raise self._error(
                        what,
                        f"refused access (HTTP {status}): check PREFECT_API_KEY / "
                        "PREFECT_API_AUTH_STRING for this server",
                    )
                if status not in _RETRYABLE_STATUS:
                    return response
                failure = f"answered HTTP {status}"
                retry_after = _retry_after(response)
            if attempt < retries:
                time.sleep(_backoff(attempt, retry_after))
            attempt += 1
        tries = f" after {retries + 1} attempts" if retries else ""
        raise self._error(what, f"failed{tries}: {failure}")

    def _refresh_csrf_token(self, *, what: str, timeout: float) -> None:
        """Get a CSRF token the way Prefect's client does (GET /csrf-token?client=<id>)."""
        import uuid

        client_id = str(uuid.uuid4())
        response = self._request(
            "GET", "csrf-token", params={"client": client_id}, what=what, timeout=timeout, retries=0
        )
        try:
            token = response.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise self._error(what, f"refused a CSRF token (HTTP {response.status_code})") from None
        self._csrf_headers = {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client_id}

    def _error(self, what: str, reason: str) -> SecretSourceError:
        return SecretSourceError(
            f"Prefect server {self.endpoint}: {what}: {reason}",
            source="server",
            place=self.endpoint.api_url,
        )


def _is_csrf_refusal(response: httpx.Response) -> bool:
    detail = _detail(response)
    return isinstance(detail, str) and "CSRF" in detail


def _limit_from(response: httpx.Response) -> int | None:
    """The server's cap on `limit`, from its 422 "must be less than or equal to N"."""
    if response.status_code != 422:
        return None
    detail = _detail(response)
    marker = "must be less than or equal to "
    if isinstance(detail, str) and marker in detail:
        digits = detail.split(marker, 1)[1].rstrip(".")
        return int(digits) if digits.isdigit() else None
    return None


def _detail(response: httpx.Response) -> object:
    try:
        return response.json().get("detail")
    except (ValueError, AttributeError):
        return None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx wraps OSError texts like "[Errno 111] Connection refused".
    return text.split("] ", 1)[-1]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _backoff(attempt: int, retry_after: float | None) -> float:
    delay: float = min(_MAX_BACKOFF, 0.2 * 2**attempt) * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, _MAX_BACKOFF * 2))
    return delay


_clients: dict[Endpoint, ServerClient] = {}
_clients_lock = threading.Lock()


def client_for(endpoint: Endpoint) -> ServerClient:
    """The process's client for `endpoint` (one connection pool per endpoint)."""
    client = _clients.get(endpoint)
    if client is None:
        with _clients_lock:
            client = _clients.get(endpoint)
            if client is None:
                if not _clients:
                    import atexit

                    atexit.register(close_clients)
                client = _clients[endpoint] = ServerClient(endpoint)
    return client


def close_clients() -> None:
    """Close every pool (at exit, and in tests that restart servers)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
