"""The HTTP layer under the server client: one connection pool per endpoint, bounded
retries of transient failures, CSRF tokens, and one-line errors that never quote a body.

Error messages name the server and what was being done, never a response
body: Prefect's validation errors quote the request, value included.
"""

from __future__ import annotations

import os
import random
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._server.endpoint import Endpoint

if TYPE_CHECKING:
    import httpx

__all__ = ["ApiTransport", "detail_of", "limit_from", "tls_context"]

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_BACKOFF = 2.0
_DEFAULT_FILTER_LIMIT = 200


def tls_context(endpoint: Endpoint, environ: Mapping[str, str]) -> ssl.SSLContext:
    """The same TLS choices as Prefect's client (PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
    PREFECT_API_SSL_CERT_FILE, which defaults to $SSL_CERT_FILE), and no CA store where no
    TLS can happen: loading it costs each process 65 ms of CPU, the largest part of a fleet
    process's lookup after importing httpx."""
    if not _may_use_tls(endpoint.api_url, environ):
        # Plain HTTP to the server and to any proxy. The context still fails closed: it
        # requires a certificate and trusts none.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if endpoint.tls_insecure:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        return insecure
    return ssl.create_default_context(cafile=endpoint.ca_file)


def _may_use_tls(api_url: str, environ: Mapping[str, str]) -> bool:
    if not api_url.lower().startswith("http://"):
        return True
    # httpx (trust_env) reaches an http:// URL through HTTP_PROXY or ALL_PROXY, either case:
    # a proxy spoken to over TLS needs the CA store.
    return any(
        environ.get(name, "").strip().lower().startswith("https")
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
    )


class ApiTransport:
    """One connection pool to one endpoint, shared by every thread of the process."""

    def __init__(self, endpoint: Endpoint) -> None:
        import httpx

        self.endpoint = endpoint
        self._http = httpx.Client(
            base_url=endpoint.api_url + "/",
            headers=dict(endpoint.headers),
            verify=tls_context(endpoint, os.environ),
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
        self.filter_limit = _DEFAULT_FILTER_LIMIT

    def close(self) -> None:
        self._http.close()

    def json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise self.error(what, f"answered HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise self.not_what_was_asked(response, what, "a JSON object")
        return document

    def json_list(self, response: httpx.Response, what: str) -> list[Any]:
        if response.status_code != 200:
            raise self.error(what, f"answered HTTP {response.status_code}")
        try:
            documents = response.json()
        except ValueError:
            documents = None
        if not isinstance(documents, list):
            raise self.not_what_was_asked(response, what, "a JSON list")
        return documents

    def not_what_was_asked(
        self, response: httpx.Response, what: str, expected: str
    ) -> SecretSourceError:
        """The error for a 200 that is not `expected`, naming the likely cause when it is
        a web page: the UI's pages, which some Prefect releases (3.4) serve with 200 for
        every path outside the API."""
        if response.headers.get("content-type", "").startswith("text/html"):
            return self.error(what, f"answered with a web page: {API_ADDRESS_HINT}")
        return self.error(what, f"answered with something that is not {expected}")

    def request(
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
        """Send with bounded retries of transient failures; 401/403 are never retried.

        The request has `timeout` x (`retries` + 1) seconds in all (not counting the
        pauses between attempts). Connecting, sending and waiting for a pooled
        connection take at most `timeout` each, but a server that has the request gets
        the rest of that budget to answer: asking a busy server again (a fleet's cold
        start) would only add to its work, and the request it abandoned still runs.
        """
        import httpx

        failure = ""
        csrf_refreshed = False
        attempt = 0
        budget = timeout * (retries + 1)
        started = time.monotonic()
        paused = 0.0
        made = 0
        while attempt <= retries:
            retry_after = None
            headers = self._csrf_headers if method != "GET" else None
            answer_within = budget - (time.monotonic() - started - paused)
            if answer_within <= 0:
                break
            made += 1
            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=httpx.Timeout(timeout, read=answer_within),
                )
            except httpx.ReadTimeout:
                failure = f"no answer within {answer_within:.1f} s"
                break  # the whole budget was spent waiting
            except httpx.TimeoutException:
                failure = f"no connection within {timeout:g} s"
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
                    raise self.error(
                        what,
                        f"refused access (HTTP {status}): check PREFECT_API_KEY / "
                        "PREFECT_API_AUTH_STRING for this server",
                    )
                if status not in _RETRYABLE_STATUS:
                    return response
                failure = f"answered HTTP {status}"
                retry_after = _retry_after(response)
            if attempt < retries:
                pause = _backoff(attempt, retry_after)
                time.sleep(pause)
                paused += pause
            attempt += 1
        tries = f" after {made} attempts" if made > 1 else ""
        raise self.error(what, f"failed{tries}: {failure}")

    def _refresh_csrf_token(self, *, what: str, timeout: float) -> None:
        """Get a CSRF token the way Prefect's client does (GET /csrf-token?client=<id>)."""
        import uuid

        client_id = str(uuid.uuid4())
        response = self.request(
            "GET", "csrf-token", params={"client": client_id}, what=what, timeout=timeout, retries=0
        )
        try:
            token = response.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise self.error(what, f"refused a CSRF token (HTTP {response.status_code})") from None
        self._csrf_headers = {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client_id}

    def error(self, what: str, reason: str) -> SecretSourceError:
        return SecretSourceError(
            f"Prefect server {self.endpoint}: {what}: {reason}",
            source="server",
            place=self.endpoint.api_url,
        )


API_ADDRESS_HINT = "is PREFECT_API_URL the API's address (it usually ends in /api)?"


def _is_csrf_refusal(response: httpx.Response) -> bool:
    detail = detail_of(response)
    return isinstance(detail, str) and "CSRF" in detail


def limit_from(response: httpx.Response) -> int | None:
    """The server's cap on `limit`, from its 422 "must be less than or equal to N"."""
    if response.status_code != 422:
        return None
    detail = detail_of(response)
    marker = "must be less than or equal to "
    if isinstance(detail, str) and marker in detail:
        digits = detail.split(marker, 1)[1].rstrip(".")
        return int(digits) if digits.isdigit() else None
    return None


def detail_of(response: httpx.Response) -> object:
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
