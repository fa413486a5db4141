"""A GCE metadata server plus the Google token endpoints google-auth calls, on a local socket.

One `GceMetadataServer` plays four Google hosts, each on its real paths:

* the metadata server (`metadata.google.internal`): `/` (ping) and `/computeMetadata/v1/...`
  -- service-account info, `email`, `token`, `identity` (real RS256 ID tokens),
  `project/project-id`, `universe/universe-domain`;
* `oauth2.googleapis.com`: `POST /token` with the JWT-bearer grant a service-account key
  signs (`target_audience` -> `{"id_token"}`, `scope` -> access token);
* `www.googleapis.com`: `/oauth2/v1/certs` (key id -> X.509 PEM) and `/oauth2/v3/certs`
  (JWKS) to verify the ID tokens, and `/robot/v1/metadata/x509/{email}` (a key's certs);
* `iamcredentials.googleapis.com`: `POST /v1/projects/-/serviceAccounts/{email}:generateIdToken`
  and `:generateAccessToken` (impersonation), authorised by the caller's access token.

How a test points google-auth at it::

    from google.auth.compute_engine import _metadata
    from google.auth.transport.requests import Request
    from google.oauth2 import id_token

    with GceMetadataServer() as google:
        # google-auth reads GCE_METADATA_HOST once, when google.auth.compute_engine._metadata
        # is first imported, and GCE_METADATA_IP at each ping: set both, and patch the
        # module global too in case it was imported already.
        for name, value in google.metadata_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", google.host)
        token = id_token.fetch_id_token(Request(), "https://fake-audience")
        claims = id_token.verify_token(
            token, Request(), audience="https://fake-audience", certs_url=google.certs_url
        )

    # A service-account key file whose token_uri is this server:
    key = google.create_service_account_key(path=tmp_path / "sa.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key.path))

    # Impersonation. impersonated_credentials.Credentials takes
    #   iam_endpoint_override=google.generate_access_token_url(target_email)
    # but IDTokenCredentials (and ADC files of type impersonated_service_account) always call
    # https://iamcredentials.googleapis.com/..., so route requests' HTTPS through this server,
    # which then acts as a CONNECT proxy for the Google hosts with a throwaway CA:
    google.allow_impersonation(source_email, target_email)
    for name, value in google.proxy_environment(tmp_path).items():
        monkeypatch.setenv(name, value)

Faithful: the `Metadata-Flavor: Google` header both ways (403 without it, or with
`X-Forwarded-For`, as the real server answers), content types (`application/json`,
`application/text`, `text/html` for identity), the ID-token claims Google issues (iss
`https://accounts.google.com`, aud, azp, sub = the account's numeric id, email,
email_verified, iat, exp, and `google.compute_engine` with `format=full`), the JWT-bearer
assertion checks (signature by the key's `private_key_id`, iss, aud
`https://oauth2.googleapis.com/token`, a lifetime of at most an hour) and the OAuth and Google
API error bodies (`invalid_grant`, `invalid_scope`; `{"error": {"code", "message",
"status"}}` with PERMISSION_DENIED / UNAUTHENTICATED).

Simplified: every call mints a fresh token (the real metadata server caches access tokens
until about five minutes before expiry); no certificate-bound (agent identity) tokens,
no mTLS metadata, no `wait_for_change`; IAM permissions are an allow-list set with
`allow_impersonation()`.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.tls import (
    CertificateAuthority,
    Handler,
    HttpRequest,
    HttpResponse,
    LocalServer,
    make_ca,
    proxy_environment,
    rsa_private_key_pem,
    self_signed_certificate_pem,
)

GOOGLE_ISSUER = "https://accounts.google.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
#: Audiences Google's token endpoint accepts in a JWT-bearer assertion.
TOKEN_AUDIENCES = frozenset({GOOGLE_TOKEN_URI, "https://www.googleapis.com/oauth2/v4/token"})
#: The hosts the CONNECT proxy intercepts (everything else gets 403).
INTERCEPTED_HOSTS = (
    "oauth2.googleapis.com",
    "www.googleapis.com",
    "iamcredentials.googleapis.com",
)

METADATA_PREFIX = "/computeMetadata/v1/"
_IAM_PATH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/serviceAccounts/(?P<account>[^/:]+)"
    r":(?P<method>generateIdToken|generateAccessToken)$"
)
_SA_PATH = re.compile(r"^instance/service-accounts/(?P<account>[^/]+)/(?P<rest>.*)$")


def _numeric_id() -> str:
    return "1" + "".join(secrets.choice("0123456789") for _ in range(20))


def _rfc3339(seconds: float) -> str:
    """Google's `expireTime` format; google-auth parses it with "%Y-%m-%dT%H:%M:%SZ"."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@dataclass
class ServiceAccount:
    """A Google service account the fake knows: its email, numeric id and key ids."""

    email: str
    unique_id: str = field(default_factory=_numeric_id)
    #: private_key_id -> public key (what verifies the account's signed assertions).
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceAccountKey:
    """A service-account JSON key as the Cloud console downloads it (`info`)."""

    email: str
    private_key_id: str
    private_key_pem: str
    info: dict[str, Any]
    path: Path | None = None

    def write(self, path: Path) -> ServiceAccountKey:
        """Write the JSON key file (mode 0600) and return a copy that knows its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(self.info, indent=2))
        return ServiceAccountKey(
            self.email, self.private_key_id, self.private_key_pem, self.info, path
        )


@dataclass
class _AccessToken:
    principal: str
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class IssuedToken:
    """A record of one token the server minted (no token value)."""

    kind: str  # "access_token" or "id_token"
    via: str  # endpoint name
    principal: str
    audience: str | None
    scopes: tuple[str, ...]
    expires_at: int


class GceMetadataServer(LocalServer):
    """Metadata server + Google token, certs and IAM Credentials endpoints on 127.0.0.1.

    Counts per endpoint in `requests` (see the `*_ENDPOINT` names below, e.g.
    `server.count("identity")`), faults from `LocalServer` (`delay`, `fail_next(n, status,
    endpoint=...)`, `stop_listening()` / `resume_listening()`), and `issued` records of
    every token minted. `id_token_lifetime` / `access_token_lifetime` apply to new tokens.
    """

    def __init__(
        self,
        *,
        project_id: str = "fake-project",
        service_account: str | None = None,
        scopes: Iterable[str] = (CLOUD_PLATFORM,),
        id_token_lifetime: int = 3600,
        access_token_lifetime: int = 3599,
        zone: str = "us-central1-a",
        universe_domain: str = "googleapis.com",
    ) -> None:
        super().__init__()
        self.project_id = project_id
        self.project_number = _numeric_id()[:12]
        self.zone = zone
        self.universe_domain = universe_domain
        self.instance_id = _numeric_id()[:19]
        self.instance_name = "fake-instance"
        self.id_token_lifetime = id_token_lifetime
        self.access_token_lifetime = access_token_lifetime
        self.scopes = tuple(scopes)
        self.accounts: dict[str, ServiceAccount] = {}
        self.default_account = self.add_service_account(
            service_account or f"fake-default@{project_id}.iam.gserviceaccount.com"
        )
        self.issued: list[IssuedToken] = []
        self._access_tokens: dict[str, _AccessToken] = {}
        self._grants: set[tuple[str, str]] = set()
        self._state_lock = threading.Lock()
        self._signing: list[tuple[str, rsa.RSAPrivateKey, str]] = []
        self.rotate_signing_key(keep_old=False)
        self._ca: CertificateAuthority | None = None
        self._proxy_context: ssl.SSLContext | None = None

    # -- addresses and client configuration

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`: the value for GCE_METADATA_HOST and GCE_METADATA_IP."""
        return f"127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        """This server's stand-in for https://oauth2.googleapis.com/token."""
        return f"{self.url}/token"

    @property
    def certs_url(self) -> str:
        """Key id -> X.509 PEM, like https://www.googleapis.com/oauth2/v1/certs."""
        return f"{self.url}/oauth2/v1/certs"

    @property
    def jwks_url(self) -> str:
        """JWKS, like https://www.googleapis.com/oauth2/v3/certs."""
        return f"{self.url}/oauth2/v3/certs"

    def metadata_environment(self) -> dict[str, str]:
        """GCE_METADATA_HOST / GCE_METADATA_IP for google-auth (NO_GCE_CHECK must be unset).

        google-auth reads GCE_METADATA_HOST once, at import of
        `google.auth.compute_engine._metadata`; a test that imported it already must also
        set `_metadata._GCE_METADATA_HOST = server.host`.
        """
        return {"GCE_METADATA_HOST": self.host, "GCE_METADATA_IP": self.host}

    def generate_access_token_url(self, email: str) -> str:
        """`iam_endpoint_override` for `impersonated_credentials.Credentials`."""
        return f"{self.url}/v1/projects/-/serviceAccounts/{email}:generateAccessToken"

    def generate_id_token_url(self, email: str) -> str:
        return f"{self.url}/v1/projects/-/serviceAccounts/{email}:generateIdToken"

    def proxy_environment(self, directory: Path) -> dict[str, str]:
        """Environment that routes `requests`' HTTPS calls to the intercepted Google hosts
        (oauth2 / www / iamcredentials .googleapis.com) through this server.

        The server answers CONNECT for those hosts and terminates TLS with a certificate from
        a throwaway CA, written to `directory/google-ca.pem` and named by REQUESTS_CA_BUNDLE
        (so *all* requests' HTTPS in the process trusts only that CA while it is set).
        """
        if self._ca is None:
            self._ca = make_ca("fake-google-ca")
            self._proxy_context = self._ca.issue(list(INTERCEPTED_HOSTS)).ssl_context()
        ca_file = self._ca.write_pem(directory / "google-ca.pem")
        return proxy_environment(f"http://{self.host}", ca_file)

    def connect_hosts(self) -> dict[str, ssl.SSLContext]:
        if self._proxy_context is None:
            return {}
        return dict.fromkeys(INTERCEPTED_HOSTS, self._proxy_context)

    # -- accounts, keys, permissions

    def add_service_account(self, email: str) -> ServiceAccount:
        account = self.accounts.get(email)
        if account is None:
            account = self.accounts[email] = ServiceAccount(email)
        return account

    def create_service_account_key(
        self,
        email: str | None = None,
        *,
        path: Path | None = None,
        token_uri: str | None = None,
    ) -> ServiceAccountKey:
        """Generate an RSA key for `email` (a new account unless known; default: a fresh
        `fake-sa-...` account), register its public half, and return the JSON key (written
        to `path` if given). `token_uri` defaults to this server's `/token`; pass
        GOOGLE_TOKEN_URI to exercise the real URL through `proxy_environment()`."""
        email = email or f"fake-sa-{secrets.token_hex(3)}@{self.project_id}.iam.gserviceaccount.com"
        account = self.add_service_account(email)
        private = rsa.generate_private_key(65537, 2048)
        key_id = secrets.token_hex(20)
        account.keys[key_id] = private.public_key()
        quoted = urllib.parse.quote(email)
        info = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": key_id,
            "private_key": rsa_private_key_pem(private),
            "client_email": email,
            "client_id": account.unique_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri or self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{quoted}",
            "universe_domain": "googleapis.com",
        }
        key = ServiceAccountKey(email, key_id, info["private_key"], info)
        return key.write(path) if path is not None else key

    def impersonated_credentials_info(
        self, source: ServiceAccountKey, target_email: str, delegates: Iterable[str] = ()
    ) -> dict[str, Any]:
        """An `impersonated_service_account` ADC file body (its URL is the real IAM host,
        which google-auth does not let a file override: use `proxy_environment()`)."""
        return {
            "type": "impersonated_service_account",
            "service_account_impersonation_url": (
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                f"{target_email}:generateAccessToken"
            ),
            "delegates": list(delegates),
            "source_credentials": source.info,
        }

    def allow_impersonation(self, caller: str, target: str) -> None:
        """Grant `caller` Service Account Token Creator on `target` (both emails)."""
        self.add_service_account(target)
        self._grants.add((caller, target))

    def revoke_impersonation(self, caller: str, target: str) -> None:
        self._grants.discard((caller, target))

    def revoke_access_tokens(self) -> None:
        """Forget every access token issued (callers then get 401 UNAUTHENTICATED)."""
        with self._state_lock:
            self._access_tokens.clear()

    def rotate_signing_key(self, *, keep_old: bool = True) -> str:
        """Sign new ID tokens with a fresh key; old keys stay published if `keep_old`."""
        private = rsa.generate_private_key(65537, 2048)
        kid = secrets.token_hex(20)
        cert = self_signed_certificate_pem(private, "fake-google-id-token-signer")
        entry = (kid, private, cert)
        self._signing = [entry, *self._signing] if keep_old else [entry]
        return kid

    def verify_id_token(self, token: str, audience: str) -> dict[str, Any]:
        """Verify an ID token this server minted (signature, exp, aud, iss)."""
        kid = pyjwt.get_unverified_header(token).get("kid")
        private = next(p for k, p, _ in self._signing if k == kid)
        return dict(
            pyjwt.decode(
                token,
                private.public_key(),
                algorithms=["RS256"],
                audience=audience,
                issuer=GOOGLE_ISSUER,
            )
        )

    # -- minting

    def _mint_access_token(
        self, principal: str, scopes: Iterable[str], via: str, lifetime: int | None = None
    ) -> tuple[str, int]:
        lifetime = self.access_token_lifetime if lifetime is None else lifetime
        token = "fake-ya29." + secrets.token_urlsafe(48)
        expires_at = time.time() + lifetime
        scope_tuple = tuple(scopes)
        with self._state_lock:
            self._access_tokens[token] = _AccessToken(principal, frozenset(scope_tuple), expires_at)
            self.issued.append(
                IssuedToken("access_token", via, principal, None, scope_tuple, int(expires_at))
            )
        return token, lifetime

    def _mint_id_token(
        self,
        account: ServiceAccount,
        audience: str,
        via: str,
        *,
        include_email: bool = True,
        email_azp: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "azp": account.email if email_azp else account.unique_id,
        }
        if include_email:
            claims |= {"email": account.email, "email_verified": True}
        claims |= {
            "exp": now + self.id_token_lifetime,
            "iat": now,
            "iss": GOOGLE_ISSUER,
            "sub": account.unique_id,
        }
        claims |= extra or {}
        kid, private, _ = self._signing[0]
        token = pyjwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})
        with self._state_lock:
            self.issued.append(
                IssuedToken("id_token", via, account.email, audience, (), claims["exp"])
            )
        return token

    # -- routing

    def route(self, request: HttpRequest) -> tuple[str, Handler] | None:
        path = request.path
        if path == "/":
            return PING_ENDPOINT, self._ping
        if path.startswith(METADATA_PREFIX) or path == METADATA_PREFIX.rstrip("/"):
            return self._metadata_route(request)
        if path == "/token":
            return OAUTH2_TOKEN_ENDPOINT, self._oauth2_token
        if path == "/oauth2/v1/certs":
            return CERTS_ENDPOINT, self._certs
        if path == "/oauth2/v3/certs":
            return JWKS_ENDPOINT, self._jwks
        if path.startswith("/robot/v1/metadata/x509/"):
            return ROBOT_CERTS_ENDPOINT, self._robot_certs
        match = _IAM_PATH.match(urllib.parse.unquote(path))
        if match:
            return match["method"], self._iam
        return None

    def not_found(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(
            404, "<!DOCTYPE html>\n<title>Error 404 (Not Found)</title>\n", "text/html"
        )

    def fault_response(self, status: int, endpoint: str) -> HttpResponse:
        if endpoint in (OAUTH2_TOKEN_ENDPOINT,):
            return HttpResponse.json(
                status, {"error": "internal_failure", "error_description": "Injected fault."}
            )
        if endpoint in (GENERATE_ID_TOKEN_ENDPOINT, GENERATE_ACCESS_TOKEN_ENDPOINT):
            return _google_error(status, "Injected fault.", "UNAVAILABLE")
        return HttpResponse.text(
            status, f"fake metadata fault {status}\n", "text/html", _METADATA_HEADERS
        )

    # -- metadata server

    def _metadata_route(self, request: HttpRequest) -> tuple[str, Handler]:
        relative = (
            request.path[len(METADATA_PREFIX) :] if request.path != "/computeMetadata/v1" else ""
        )
        endpoint = METADATA_ENDPOINT
        match = _SA_PATH.match(relative)
        if match:
            endpoint = {
                "": SERVICE_ACCOUNT_INFO_ENDPOINT,
                "email": EMAIL_ENDPOINT,
                "token": TOKEN_ENDPOINT,
                "identity": IDENTITY_ENDPOINT,
            }.get(match["rest"], METADATA_ENDPOINT)
        elif relative == "project/project-id":
            endpoint = PROJECT_ID_ENDPOINT
        elif relative == "universe/universe-domain":
            endpoint = UNIVERSE_DOMAIN_ENDPOINT

        def handle(request: HttpRequest) -> HttpResponse:
            refused = _check_flavor(request)
            if refused is not None:
                return refused
            return self._metadata(request, relative)

        return endpoint, handle

    def _ping(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(200, "computeMetadata/\n", "application/text", _METADATA_HEADERS)

    def _metadata(self, request: HttpRequest, relative: str) -> HttpResponse:
        recursive = (request.arg("recursive") or "").lower() == "true"
        text = self._metadata_text(relative)
        if text is not None:
            return _metadata_text(text)
        if relative in ("instance/service-accounts", "instance/service-accounts/"):
            return _metadata_text(f"default/\n{self.default_account.email}/\n")
        match = _SA_PATH.match(relative)
        if match is None or match["account"] not in ("default", self.default_account.email):
            return _metadata_not_found()
        account, rest = self.default_account, match["rest"]
        if rest == "":
            if recursive:
                return _metadata_json(
                    {"aliases": ["default"], "email": account.email, "scopes": list(self.scopes)}
                )
            return _metadata_text("aliases\nemail\nidentity\nscopes\ntoken\n")
        if rest == "email":
            return _metadata_text(account.email)
        if rest == "aliases":
            return _metadata_text("default\n")
        if rest == "scopes":
            return _metadata_text("".join(f"{s}\n" for s in self.scopes))
        if rest == "token":
            requested = request.arg("scopes")
            scopes = requested.split(",") if requested else list(self.scopes)
            token, lifetime = self._mint_access_token(account.email, scopes, TOKEN_ENDPOINT)
            return _metadata_json(
                {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
            )
        if rest == "identity":
            audience = request.arg("audience")
            if not audience:
                return HttpResponse.text(
                    400, "non-empty audience parameter required\n", "text/html", _METADATA_HEADERS
                )
            extra: dict[str, Any] = {}
            if request.arg("format") == "full":
                extra["google"] = {
                    "compute_engine": {
                        "instance_creation_timestamp": int(time.time()) - 3600,
                        "instance_id": self.instance_id,
                        "instance_name": self.instance_name,
                        "project_id": self.project_id,
                        "project_number": int(self.project_number),
                        "zone": self.zone,
                    }
                }
            token = self._mint_id_token(account, audience, IDENTITY_ENDPOINT, extra=extra)
            return HttpResponse.text(200, token, "text/html; charset=utf-8", _METADATA_HEADERS)
        return _metadata_not_found()

    def _metadata_text(self, relative: str) -> str | None:
        return {
            "": "instance/\noauth/\nproject/\nuniverse/\n",
            "project/project-id": self.project_id,
            "project/numeric-project-id": self.project_number,
            "instance/id": self.instance_id,
            "instance/name": self.instance_name,
            "instance/zone": f"projects/{self.project_number}/zones/{self.zone}",
            "universe/universe-domain": self.universe_domain,
        }.get(relative)

    # -- oauth2.googleapis.com/token

    def _oauth2_token(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return _oauth_error(405, "invalid_request", "POST required.")
        form = {k: v[0] for k, v in request.form().items()}
        grant_type = form.get("grant_type")
        if grant_type != JWT_BEARER:
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        assertion = form.get("assertion") or ""
        verified = self._verify_assertion(assertion, TOKEN_AUDIENCES | {self.token_uri})
        if isinstance(verified, HttpResponse):
            return verified
        account, claims = verified
        if claims.get("target_audience"):
            token = self._mint_id_token(account, claims["target_audience"], OAUTH2_TOKEN_ENDPOINT)
            return HttpResponse.json(200, {"id_token": token}, _NO_STORE)
        scope = str(claims.get("scope") or "").split()
        if not scope:
            return _oauth_error(
                400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        token, lifetime = self._mint_access_token(account.email, scope, OAUTH2_TOKEN_ENDPOINT)
        return HttpResponse.json(
            200,
            {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"},
            _NO_STORE,
        )

    def _verify_assertion(
        self, assertion: str, audiences: Iterable[str]
    ) -> tuple[ServiceAccount, dict[str, Any]] | HttpResponse:
        try:
            header = pyjwt.get_unverified_header(assertion)
            unverified = pyjwt.decode(assertion, options={"verify_signature": False})
        except pyjwt.PyJWTError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT: bad token format.")
        account = self.accounts.get(str(unverified.get("iss")))
        if account is None or not account.keys:
            return _oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        kid = header.get("kid")
        candidates = [account.keys[kid]] if kid in account.keys else list(account.keys.values())
        claims: dict[str, Any] | None = None
        for public in candidates:
            try:
                claims = pyjwt.decode(
                    assertion,
                    public,
                    algorithms=["RS256"],
                    audience=list(audiences),
                    leeway=30,
                    options={"require": ["iss", "aud", "iat", "exp"]},
                )
                break
            except pyjwt.InvalidSignatureError:
                continue
            except pyjwt.InvalidAudienceError:
                return _oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check.")
            except pyjwt.PyJWTError:
                return _oauth_error(400, "invalid_grant", _LIFETIME_ERROR)
        if claims is None:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        if int(claims["exp"]) - int(claims["iat"]) > 3600 + 30:
            return _oauth_error(400, "invalid_grant", _LIFETIME_ERROR)
        return account, claims

    # -- www.googleapis.com certs

    def _certs(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {kid: cert for kid, _, cert in self._signing}, _CACHEABLE)

    def _jwks(self, request: HttpRequest) -> HttpResponse:
        keys = []
        for kid, private, _ in self._signing:
            numbers = private.public_key().public_numbers()
            keys.append(
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": kid,
                    "n": _b64_int(numbers.n),
                    "e": _b64_int(numbers.e),
                }
            )
        return HttpResponse.json(200, {"keys": keys}, _CACHEABLE)

    def _robot_certs(self, request: HttpRequest) -> HttpResponse:
        email = urllib.parse.unquote(request.path.rsplit("/", 1)[-1])
        account = self.accounts.get(email)
        if account is None:
            return self.not_found(request)
        certs = {}
        for kid, public in account.keys.items():
            # The real endpoint serves certificates; a public-key PEM verifies the same.
            certs[kid] = public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
        return HttpResponse.json(200, certs, _CACHEABLE)

    # -- iamcredentials.googleapis.com

    def _iam(self, request: HttpRequest) -> HttpResponse:
        match = _IAM_PATH.match(urllib.parse.unquote(request.path))
        assert match is not None
        method, target_email = match["method"], match["account"]
        permission = (
            "iam.serviceAccounts.getOpenIdToken"
            if method == GENERATE_ID_TOKEN_ENDPOINT
            else "iam.serviceAccounts.getAccessToken"
        )
        if request.method != "POST":
            return _google_error(405, "Method not allowed.", "INVALID_ARGUMENT")
        caller = self._authenticate(request.bearer_token())
        if caller is None:
            return _google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token,"
                " login cookie or other valid authentication credential.",
                "UNAUTHENTICATED",
            )
        principal, scopes = caller
        if not scopes & {CLOUD_PLATFORM, IAM_SCOPE}:
            return _google_error(
                403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED"
            )
        try:
            body = request.json() or {}
        except ValueError:
            return _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        delegates = [str(d).rsplit("/", 1)[-1] for d in body.get("delegates") or []]
        chain = [principal, *delegates, target_email]
        target = self.accounts.get(target_email)
        if target is None or any((a, b) not in self._grants for a, b in itertools.pairwise(chain)):
            return _google_error(
                403,
                f"Permission '{permission}' denied on resource (or it may not exist).",
                "PERMISSION_DENIED",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "iam.googleapis.com",
                        "metadata": {"permission": permission},
                    }
                ],
            )
        if method == GENERATE_ID_TOKEN_ENDPOINT:
            audience = body.get("audience")
            if not audience:
                return _google_error(400, "Audience is required.", "INVALID_ARGUMENT")
            token = self._mint_id_token(
                target,
                str(audience),
                GENERATE_ID_TOKEN_ENDPOINT,
                include_email=_truthy(body.get("includeEmail")),
                email_azp=_truthy(body.get("useEmailAzp")),
            )
            return HttpResponse.json(200, {"token": token})
        requested_scopes = body.get("scope") or []
        if not requested_scopes:
            return _google_error(400, "Scope is required.", "INVALID_ARGUMENT")
        lifetime = int(str(body.get("lifetime") or "3600s").rstrip("s"))
        if not 1 <= lifetime <= 3600:
            return _google_error(
                400,
                "The lifetime must be between 1 and 3600 seconds.",
                "INVALID_ARGUMENT",
            )
        token, lifetime = self._mint_access_token(
            target.email, requested_scopes, GENERATE_ACCESS_TOKEN_ENDPOINT, lifetime
        )
        return HttpResponse.json(
            200, {"accessToken": token, "expireTime": _rfc3339(time.time() + lifetime)}
        )

    def _authenticate(self, bearer: str | None) -> tuple[str, frozenset[str]] | None:
        """Who an `Authorization: Bearer` belongs to: an access token we issued, or a
        self-signed JWT from a registered service-account key (as google-auth sends for
        non-default universes)."""
        if not bearer:
            return None
        with self._state_lock:
            known = self._access_tokens.get(bearer)
        if known is not None:
            if known.expires_at <= time.time():
                return None
            return known.principal, known.scopes
        try:
            unverified = pyjwt.decode(bearer, options={"verify_signature": False})
        except pyjwt.PyJWTError:
            return None
        account = self.accounts.get(str(unverified.get("iss")))
        kid = pyjwt.get_unverified_header(bearer).get("kid")
        if account is None or kid not in account.keys:
            return None
        try:
            claims = pyjwt.decode(
                bearer, account.keys[kid], algorithms=["RS256"], options={"verify_aud": False}
            )
        except pyjwt.PyJWTError:
            return None
        return account.email, frozenset(str(claims.get("scope") or CLOUD_PLATFORM).split())


# Endpoint names (keys of `GceMetadataServer.requests`).
PING_ENDPOINT = "ping"
SERVICE_ACCOUNT_INFO_ENDPOINT = "service-account-info"
EMAIL_ENDPOINT = "email"
TOKEN_ENDPOINT = "token"
IDENTITY_ENDPOINT = "identity"
PROJECT_ID_ENDPOINT = "project-id"
UNIVERSE_DOMAIN_ENDPOINT = "universe-domain"
METADATA_ENDPOINT = "metadata"  # any other metadata path
OAUTH2_TOKEN_ENDPOINT = "oauth2-token"
CERTS_ENDPOINT = "certs"
JWKS_ENDPOINT = "jwks"
ROBOT_CERTS_ENDPOINT = "robot-certs"
GENERATE_ID_TOKEN_ENDPOINT = "generateIdToken"
GENERATE_ACCESS_TOKEN_ENDPOINT = "generateAccessToken"

_METADATA_HEADERS = [("Metadata-Flavor", "Google"), ("Server", "Metadata Server for VM")]
_NO_STORE = [("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")]
_CACHEABLE = [("Cache-Control", "public, max-age=19800, must-revalidate, no-transform")]
_LIFETIME_ERROR = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


def _check_flavor(request: HttpRequest) -> HttpResponse | None:
    """403 for requests the real metadata server refuses: no `Metadata-Flavor: Google`
    header, or an `X-Forwarded-For` header (i.e. it came through a proxy)."""
    if request.header("X-Forwarded-For") is not None:
        reason = "Request contains an X-Forwarded-For header."
    elif request.header("Metadata-Flavor") != "Google":
        reason = "Missing Metadata-Flavor:Google header."
    else:
        return None
    body = (
        "<!DOCTYPE html>\n<title>Error 403 (Forbidden)</title>\n"
        f"<p>Your client does not have permission to get URL <code>{request.path}</code> "
        f"from this server. {reason}</p>\n"
    )
    return HttpResponse.text(403, body, "text/html; charset=UTF-8", _METADATA_HEADERS)


def _metadata_text(text: str) -> HttpResponse:
    return HttpResponse.text(200, text, "application/text", _METADATA_HEADERS)


def _metadata_json(payload: Any) -> HttpResponse:
    return HttpResponse.json(200, payload, _METADATA_HEADERS)


def _metadata_not_found() -> HttpResponse:
    return HttpResponse.text(
        404,
        "<!DOCTYPE html>\n<title>Error 404 (Not Found)</title>\n",
        "text/html",
        _METADATA_HEADERS,
    )


def _oauth_error(status: int, error: str, description: str) -> HttpResponse:
    return HttpResponse.json(status, {"error": error, "error_description": description})


def _google_error(
    status: int, message: str, reason: str, details: list[dict[str, Any]] | None = None
) -> HttpResponse:
    error: dict[str, Any] = {"code": status, "message": message, "status": reason}
    if details:
        error["details"] = details
    return HttpResponse.json(status, {"error": error})


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
