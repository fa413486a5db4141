"""A real OAuth 2.0 authorization server for tests: authlib's server classes on a local socket.

The token endpoint is authlib's `AuthorizationServer` with its `ClientCredentialsGrant`, its
`client_secret_basic` / `client_secret_post` client authentication and RFC 7523
`private_key_jwt` (`JWTBearerClientAssertion`); access tokens are RFC 9068 JWTs made by
authlib's `JWTBearerTokenGenerator`, RS256-signed with a key published at `jwks_uri`. Only
the HTTP layer is ours (`tests.support.tls.LocalServer`).

How a test uses it::

    from authlib.integrations.httpx_client import OAuth2Client
    from tests.support.oauth2 import OAuth2Server

    with OAuth2Server() as idp:
        idp.register_client("fake-client", "fake-secret", scopes={"read", "write"})
        with OAuth2Client("fake-client", "fake-secret", scope="read") as client:
            token = client.fetch_token(
                idp.token_endpoint, grant_type="client_credentials", audience="fake-api"
            )
        claims = idp.verify(token["access_token"], audience="fake-api")
        assert idp.token_requests == 1
        assert idp.token_log[0].audience == ["fake-api"]

    # private_key_jwt: register the client's *public* JWK, sign with its private key
    #   from authlib.oauth2.rfc7523 import PrivateKeyJWT
    #   OAuth2Client("fake-jwt-client", private_jwk, token_endpoint_auth_method=PrivateKeyJWT(
    #       idp.token_endpoint))

Endpoints (all under `idp.url`): `POST /oauth2/token`, `GET /oauth2/jwks`,
`GET /.well-known/openid-configuration`, `GET /.well-known/oauth-authorization-server`.

Faithful: request parsing, client authentication, error codes and status (wrong secret ->
401 `invalid_client` with `WWW-Authenticate`; unknown scope -> 400 `invalid_scope`; other
grants -> 400 `unsupported_grant_type`; replayed or expired client assertions -> 400
`invalid_client`), the token response (`access_token`, `token_type` Bearer, `expires_in`,
`scope`, `Cache-Control: no-store`) and RFC 9068 claims (`iss`, `sub`=`client_id`, `aud`,
`exp`, `iat`, `jti`, `scope`, header `typ: at+jwt`, `kid`).

Simplified: only the client-credentials grant (no authorization endpoint, no refresh
tokens, no introspection); `aud` is the `audience` form parameter (Auth0/Okta style) or
else the RFC 8707 `resource`, else the client id; clients are registered in memory.
Discovery lists `response_types_supported: ["none"]` because there is no authorization
endpoint. Plain HTTP on 127.0.0.1 by default (authlib treats loopback HTTP as secure);
`OAuth2Server(tls=True)` serves HTTPS with a throwaway CA at `idp.ca_file`.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import jwt as pyjwt
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwk

from tests.support.tls import (
    HttpRequest,
    HttpResponse,
    LocalServer,
    make_ca,
)

TOKEN_PATH = "/oauth2/token"
JWKS_PATH = "/oauth2/jwks"
OIDC_DISCOVERY_PATH = "/.well-known/openid-configuration"
OAUTH_DISCOVERY_PATH = "/.well-known/oauth-authorization-server"

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: Form parameters whose values never leave the server, not even in `token_log`.
SECRET_PARAMETERS = frozenset(
    {"client_secret", "client_assertion", "assertion", "password", "refresh_token", "code"}
)


@dataclass
class RegisteredClient(ClientMixin):  # type: ignore[misc]
    """A client the server knows. `scopes` empty means any scope may be requested."""

    client_id: str
    client_secret: str | None = None
    #: Public JWK (dict) that verifies this client's private_key_jwt assertions.
    jwk: Mapping[str, Any] | None = None
    scopes: frozenset[str] = frozenset()
    auth_methods: frozenset[str] = frozenset()
    #: Claims added to every access token issued to this client.
    extra_claims: Mapping[str, Any] = field(default_factory=dict)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        if not scope:
            return ""
        requested = scope.split()
        if self.scopes and not set(requested) <= self.scopes:
            return None  # authlib answers invalid_scope
        return " ".join(requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and secrets.compare_digest(
            self.client_secret.encode(), client_secret.encode()
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


@dataclass(frozen=True)
class TokenRequestRecord:
    """What one token request carried (secret parameters replaced by "<redacted>")."""

    client_id: str | None
    auth_method: str | None
    grant_type: str | None
    scope: str | None
    audience: list[str]
    params: dict[str, list[str]]
    status: int
    error: str | None


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, params: dict[str, list[str]]) -> None:
        self._datalist = params
        self._data = {key: values[0] for key, values in params.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):  # type: ignore[misc]
    """authlib's request object over our `HttpRequest` (parameters from the form body)."""

    def __init__(self, request: HttpRequest, uri: str) -> None:
        super().__init__(request.method, uri, headers=request.headers)
        self._params = request.form() if request.method == "POST" else {}
        self._query = {key: values[0] for key, values in request.query.items()}
        self.payload = _Payload(self._params)

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return dict(self.payload.data)


class _ClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)


class _PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client assertions, under the registered method name `private_key_jwt`."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, owner: OAuth2Server) -> None:
        super().__init__(validate_jti=True, leeway=60)
        self._owner = owner
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def get_audiences(self) -> list[str]:
        # RFC 7523 says the token endpoint; OIDC Core also allows the issuer.
        return [self._owner.token_endpoint, self._owner.issuer]

    def validate_jti(self, claims: Mapping[str, Any], jti: str) -> bool:
        with self._lock:
            key = (str(claims["sub"]), jti)
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def resolve_client_public_key(self, client: RegisteredClient) -> jwk.Key:
        if client.jwk is None:
            raise InvalidClientError(description="The client has no registered public key.")
        return jwk.import_key(dict(client.jwk))


class _AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 JWT access tokens whose lifetime and audience the test controls."""

    def __init__(self, owner: OAuth2Server) -> None:
        super().__init__(
            issuer=owner.issuer,
            alg="RS256",
            expires_generator=lambda client, grant_type: owner.token_lifetime,
        )
        self._owner = owner

    def get_jwks(self) -> jwk.KeySet:
        # A one-key set (not the bare key) makes joserfc put its `kid` in the JWT header.
        return jwk.KeySet([self._owner._signing_key])

    def get_audiences(self, client: RegisteredClient, user: Any, scope: str) -> str | list[str]:
        params = self._owner._current.params
        requested = params.get("audience") or params.get("resource") or []
        if not requested:
            return client.client_id
        return requested[0] if len(requested) == 1 else list(requested)

    def get_extra_claims(
        self, client: RegisteredClient, grant_type: str, user: Any, scope: str
    ) -> dict[str, Any]:
        return dict(client.extra_claims)


class _AuthlibServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's AuthorizationServer bound to our HTTP layer."""

    def __init__(self, owner: OAuth2Server) -> None:
        super().__init__(scopes_supported=owner.scopes_supported)
        self._owner = owner

    def query_client(self, client_id: str) -> RegisteredClient | None:
        return self._owner.clients.get(client_id)

    def save_token(self, token: Mapping[str, Any], request: _Request) -> None:
        claims = pyjwt.decode(token["access_token"], options={"verify_signature": False})
        with self._owner._records_lock:
            self._owner.issued.append(claims)
            self._owner.issued_tokens.append(token["access_token"])

    def create_oauth2_request(self, request: HttpRequest) -> _Request:
        made = _Request(request, self._owner.url + request.target)
        self._owner._current.request = made  # so the server can record who authenticated
        return made

    def create_json_request(self, request: HttpRequest) -> None:
        raise NotImplementedError("no JSON endpoints here")

    def handle_response(
        self, status: int, body: Any, headers: Iterable[tuple[str, str]]
    ) -> HttpResponse:
        if isinstance(body, dict):
            return HttpResponse.json(status, body, [h for h in headers if h[0] != "Content-Type"])
        return HttpResponse(status, str(body).encode(), list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class _Current(threading.local):
    """The token request being handled by this thread (handlers run one per thread)."""

    params: dict[str, list[str]]
    request: _Request | None

    def __init__(self) -> None:
        self.params = {}
        self.request = None


class OAuth2Server(LocalServer):
    """An OAuth 2.0 client-credentials authorization server (authlib) on 127.0.0.1.

    Attributes a test reads or sets: `clients`, `token_lifetime` (seconds, for tokens issued
    from now on), `token_log` (`TokenRequestRecord` per token request that reached authlib),
    `issued` (claims of every token issued), `issued_tokens` (the tokens themselves, for leak
    checks; `issued_for(audience)` those of one audience), `token_requests` (requests to the token
    endpoint, faulted ones included), plus `LocalServer`'s `delay`, `fail_next()`,
    `stop_listening()` / `resume_listening()`, `requests` (per endpoint: "token", "jwks",
    "openid-configuration", "oauth-authorization-server").
    """

    def __init__(
        self,
        *,
        token_lifetime: int = 3600,
        scopes_supported: Iterable[str] | None = None,
        tls: bool = False,
    ) -> None:
        self._ca = make_ca() if tls else None
        super().__init__(tls=self._ca.issue(["127.0.0.1", "localhost"]) if self._ca else None)
        self.token_lifetime = token_lifetime
        self.scopes_supported = sorted(scopes_supported) if scopes_supported else None
        self.clients: dict[str, RegisteredClient] = {}
        self.token_log: list[TokenRequestRecord] = []
        self.issued: list[dict[str, Any]] = []
        #: Every access token issued, as sent: for tests that check none leaked (never print).
        self.issued_tokens: list[str] = []
        self._records_lock = threading.Lock()
        self._current = _Current()
        self._keys: list[jwk.RSAKey] = []
        self.rotate_signing_key(keep_old=False)
        self._authlib: _AuthlibServer | None = None
        self._ca_file: Path | None = None

    # -- lifecycle

    def start(self) -> Self:
        super().start()
        server = _AuthlibServer(self)
        server.register_grant(_ClientCredentialsGrant)
        server.register_client_auth_method("private_key_jwt", _PrivateKeyJWT(self))
        server.register_token_generator("default", _AccessTokens(self))
        self._authlib = server
        return self

    def close(self) -> None:
        super().close()
        if self._ca_file is not None:
            self._ca_file.unlink(missing_ok=True)

    # -- addresses

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_endpoint(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def jwks_uri(self) -> str:
        return self.url + JWKS_PATH

    @property
    def discovery_url(self) -> str:
        """OpenID Connect discovery document (`/.well-known/openid-configuration`)."""
        return self.url + OIDC_DISCOVERY_PATH

    @property
    def metadata_url(self) -> str:
        """RFC 8414 metadata document (`/.well-known/oauth-authorization-server`)."""
        return self.url + OAUTH_DISCOVERY_PATH

    @property
    def ca_file(self) -> Path | None:
        """PEM file of the CA to trust when `tls=True` (httpx `verify=str(idp.ca_file)`)."""
        if self._ca is None:
            return None
        if self._ca_file is None:
            handle, name = tempfile.mkstemp(prefix="fake-oauth2-ca-", suffix=".pem")
            os.close(handle)
            self._ca_file = self._ca.write_pem(Path(name))
        return self._ca_file

    # -- test API

    def register_client(
        self,
        client_id: str,
        secret: str | None = None,
        *,
        jwk: Mapping[str, Any] | None = None,
        scopes: Iterable[str] = (),
        auth_methods: Iterable[str] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> RegisteredClient:
        """Register a client with a secret (client_secret_basic/_post) and/or a public JWK
        (private_key_jwt). `auth_methods` narrows the methods it may use."""
        if secret is None and jwk is None:
            raise ValueError("a client needs a secret or a public JWK")
        if jwk is not None and any(k in jwk for k in ("d", "p", "q")):
            raise ValueError("register the client's public JWK, not its private key")
        methods = set()
        if secret is not None:
            methods |= {"client_secret_basic", "client_secret_post"}
        if jwk is not None:
            methods.add("private_key_jwt")
        if auth_methods is not None:
            methods &= set(auth_methods)
        client = RegisteredClient(
            client_id=client_id,
            client_secret=secret,
            jwk=dict(jwk) if jwk is not None else None,
            scopes=frozenset(scopes),
            auth_methods=frozenset(methods),
            extra_claims=dict(extra_claims or {}),
        )
        self.clients[client_id] = client
        return client

    def issued_for(self, audience: str) -> list[str]:
        """The access tokens issued for `audience` (never print them)."""
        with self._records_lock:
            pairs = list(zip(self.issued, self.issued_tokens, strict=True))
        return [token for claims, token in pairs if claims.get("aud") == audience]

    def remove_client(self, client_id: str) -> None:
        self.clients.pop(client_id, None)

    @property
    def token_requests(self) -> int:
        """Requests that reached the token endpoint (including injected faults)."""
        return self.count("token")

    def reset_token_requests(self) -> None:
        """Reset `token_requests` (and `token_log`), e.g. after a test's set-up."""
        with self._lock:
            self.requests["token"] = 0
        with self._records_lock:
            self.token_log.clear()

    def rotate_signing_key(self, *, keep_old: bool = True) -> str:
        """Sign new tokens with a fresh RSA key; returns its `kid`. With `keep_old`, the
        JWKS still publishes the previous keys (as a real rotation does)."""
        key = jwk.RSAKey.import_key(rsa.generate_private_key(65537, 2048))
        key.ensure_kid()
        self._keys = [key, *self._keys] if keep_old else [key]
        return str(key.kid)

    @property
    def _signing_key(self) -> jwk.RSAKey:
        return self._keys[0]

    @property
    def jwks(self) -> dict[str, Any]:
        """The public JWK Set served at `jwks_uri`."""
        return {
            "keys": [
                {**key.as_dict(private=False), "use": "sig", "alg": "RS256"} for key in self._keys
            ]
        }

    def verify(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Verify an access token this server issued (signature, iss, exp, and `audience`)."""
        kid = pyjwt.get_unverified_header(token).get("kid")
        key = next(k for k in self._keys if k.kid == kid)
        public = key.public_key
        return dict(
            pyjwt.decode(
                token,
                public,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=audience,
                options={"verify_aud": audience is not None},
            )
        )

    # -- HTTP

    def route(self, request: HttpRequest) -> tuple[str, Any] | None:
        routes = {
            ("POST", TOKEN_PATH): ("token", self._token),
            ("GET", JWKS_PATH): ("jwks", lambda r: HttpResponse.json(200, self.jwks)),
            ("GET", OIDC_DISCOVERY_PATH): ("openid-configuration", self._discovery),
            ("GET", OAUTH_DISCOVERY_PATH): ("oauth-authorization-server", self._discovery),
        }
        found = routes.get((request.method, request.path))
        if found is None and request.path == TOKEN_PATH:
            return "token", lambda r: HttpResponse.json(
                405, {"error": "invalid_request"}, [("Allow", "POST")]
            )
        return found

    def not_found(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(404, {"error": "not_found"})

    def fault_response(self, status: int, endpoint: str) -> HttpResponse:
        error = "temporarily_unavailable" if status == 503 else "server_error"
        return HttpResponse.json(
            status, {"error": error, "error_description": f"Injected fault {status}."}
        )

    def _discovery(self, request: HttpRequest) -> HttpResponse:
        document: dict[str, Any] = {
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": [
                "RS256",
                "RS384",
                "RS512",
                "PS256",
                "ES256",
            ],
            "response_types_supported": ["none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        if self.scopes_supported:
            document["scopes_supported"] = self.scopes_supported
        return HttpResponse.json(200, document)

    def _token(self, request: HttpRequest) -> HttpResponse:
        assert self._authlib is not None
        params = request.form()
        self._current.params = params
        self._current.request = None
        try:
            response: HttpResponse = self._authlib.create_token_response(request)
            self._record(request, params, self._current.request, response)
        finally:
            self._current.params = {}
            self._current.request = None
        return response

    def _record(
        self,
        request: HttpRequest,
        params: dict[str, list[str]],
        authlib_request: _Request | None,
        response: HttpResponse,
    ) -> None:
        client = getattr(authlib_request, "client", None)
        client_id = client.client_id if client is not None else _claimed_client_id(request)
        error = None
        if response.status >= 400:
            error = json.loads(response.body or b"{}").get("error")
        record = TokenRequestRecord(
            client_id=client_id,
            auth_method=getattr(authlib_request, "auth_method", None),
            grant_type=_first(params, "grant_type"),
            scope=_first(params, "scope"),
            audience=list(params.get("audience") or params.get("resource") or []),
            params={
                key: ["<redacted>"] * len(values) if key in SECRET_PARAMETERS else list(values)
                for key, values in params.items()
            },
            status=response.status,
            error=error,
        )
        with self._records_lock:
            self.token_log.append(record)


def _first(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _claimed_client_id(request: HttpRequest) -> str | None:
    """Who the request says it is (unverified): for records of failed requests."""
    client_id, _ = extract_basic_authorization(request.headers)
    if client_id:
        return str(client_id)
    params = request.form()
    if params.get("client_id"):
        return params["client_id"][0]
    assertion = _first(params, "client_assertion")
    if assertion:
        try:
            return str(pyjwt.decode(assertion, options={"verify_signature": False}).get("sub"))
        except pyjwt.PyJWTError:
            return None
    return None


def generate_client_key() -> tuple[jwk.RSAKey, dict[str, Any]]:
    """An RSA key for a private_key_jwt client: (private joserfc key, public JWK dict).

    Register the public dict with `register_client(..., jwk=public)`; give the private key
    to authlib's client as its `client_secret` with `PrivateKeyJWT(token_endpoint)`.
    """
    key = jwk.RSAKey.generate_key(2048, auto_kid=True)
    return key, key.as_dict(private=False)
