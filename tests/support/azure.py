"""An in-memory Azure Key Vault (secrets) plus a fake Entra ID token service, over HTTPS.

azure-core refuses to send bearer tokens over http, so the server always uses TLS with a
throwaway CA. It serves both the vault (`/secrets/...`) and Entra ID
(`/{tenant}/oauth2/v2.0/token`, OpenID metadata, instance discovery) on one port. Two ways
to point the official SDK at it:

1. Direct, with kwargs (vault at https://127.0.0.1:PORT)::

       from azure.identity import ClientSecretCredential
       from azure.keyvault.secrets import SecretClient

       with AzureKeyVaultServer() as kv:
           kv.set_secret("db-password", "fake-value")
           credential = ClientSecretCredential(
               kv.tenant_id, kv.client_id, kv.client_secret,
               authority=kv.url,                   # the fake Entra ID
               disable_instance_discovery=True,    # else MSAL asks login.microsoftonline.com
               connection_verify=kv.ca_file,
           )
           client = SecretClient(
               kv.vault_url, credential,
               verify_challenge_resource=False,    # 127.0.0.1 is not *.vault.azure.net
               connection_verify=kv.ca_file,
           )
           assert client.get_secret("db-password").value == "fake-value"

2. Real host names, environment only (`DefaultAzureCredential()` and a `SecretClient`
   with no extra kwargs, as production code would build them)::

       with AzureKeyVaultServer() as kv:
           monkeypatch.setenv(...) for each item of kv.env()
           client = SecretClient(kv.public_vault_url, DefaultAzureCredential())
           # public_vault_url == "https://fake-vault.vault.azure.net"

   `env()` sets HTTPS_PROXY to a local CONNECT proxy (`fake_http.ConnectProxy`) that
   tunnels `login.microsoftonline.com` and `*.vault.azure.net` (only those) to this
   server, REQUESTS_CA_BUNDLE / SSL_CERT_FILE to certifi + our CA, the AZURE_TENANT_ID /
   AZURE_CLIENT_ID / AZURE_CLIENT_SECRET of the registered app, and
   AZURE_TOKEN_CREDENTIALS=EnvironmentCredential so DefaultAzureCredential never falls
   through to managed identity (which would probe 169.254.169.254).

Test controls: `set_secret`, `deny(name, innererror="AccessDenied")` (403),
`expire_tokens()` (every token issued so far gets 401 + a new challenge),
`revoke_client(client_id)` (the token endpoint answers invalid_client, as for a wrong or
expired client secret), `add_client`, `tokens_issued`, `reset()`, and the faults and
counts of `FakeHttpServer` (route names: "secrets.get", "secrets.set", "secrets.list",
"secrets.versions", "secrets.delete", "secrets.update", "deleted.get", "deleted.list",
"deleted.purge", "deleted.recover", "entra.token", "entra.openid", "entra.discovery").

Faithful: challenge auth as Key Vault does it (a request without a bearer token, which
the SDK sends first with its body stripped, gets 401 with `WWW-Authenticate: Bearer
authorization="<authority>/<tenant>", resource="https://vault.azure.net"`); tokens come
only from the token endpoint (client_credentials, scope must be
`https://vault.azure.net/.default`) and a token for another scope is a 401; SecretBundle /
SecretItem / DeletedSecretBundle JSON (`id` = `<vault>/secrets/<name>/<32-hex version>`,
`attributes` with epoch seconds and `recoveryLevel`, `contentType`, `tags`); every PUT
makes a new version; `GET /secrets/{name}/` (empty version) is the latest; names are
case-insensitive and must match `^[0-9a-zA-Z-]{1,127}$` (400 BadParameter); paging with
`maxresults` (1..25) and an absolute `nextLink`; soft delete (DELETE answers a
DeletedSecretBundle without the value, the name then 404s, PUT is 409 Conflict until it
is purged or recovered); `GET/DELETE /deletedsecrets/{name}`, `GET /deletedsecrets`,
`POST /deletedsecrets/{name}/recover`; `PATCH /secrets/{name}/{version}` (enabled,
contentType, tags; a disabled version's GET is 403 Forbidden/SecretDisabled); error
bodies `{"error": {"code", "message", "innererror"?}}` with Key Vault's codes
(SecretNotFound, BadParameter, Conflict, Forbidden + AccessDenied/ForbiddenByPolicy/
ForbiddenByRbac, Throttled with Retry-After, Unauthorized); Entra errors
(`invalid_client` AADSTS7000215 401, `unauthorized_client` AADSTS700016, unknown tenant
AADSTS90002, `invalid_scope`).

Simplified: tokens are opaque random strings, not JWTs (the SDK never parses them);
delete/recover finish at once (the real ones take seconds, which the SDK polls for);
no purge protection, backup/restore, `nbf`/`exp` enforcement, managed secrets, RBAC
model, or certificate-backed secrets; error messages are close to, not guaranteed equal
to, the real ones; any api-version of the form `7.x` or `YYYY-MM-DD` is accepted (the
installed SDK sends 2026-04-01).
"""

from __future__ import annotations

import re
import secrets as random_tokens
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import ConnectProxy, FakeHttpServer, Request, Response

NAME_RULE = re.compile(r"[0-9a-zA-Z-]{1,127}")
API_VERSION_RULE = re.compile(r"\d+\.\d+(-preview(\.\d+)?)?|\d{4}-\d{2}-\d{2}(-preview)?")
VAULT_RESOURCE = "https://vault.azure.net"
VAULT_SCOPE = VAULT_RESOURCE + "/.default"
ENTRA_HOST = "login.microsoftonline.com"
MAX_RESULTS = 25
RECOVERABLE_DAYS = 90

_NOT_FOUND_HELP = (
    "If you recently deleted this secret you may be able to recover it using the correct "
    "recovery command. For help resolving this issue, please see "
    "https://go.microsoft.com/fwlink/?linkid=2125182"
)


class KeyVaultError(Exception):
    """Raised by handlers; becomes a Key Vault (or Entra ID) error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        innererror: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.innererror = innererror
        self.headers = headers or {}


@dataclass
class SecretVersion:
    version: str
    value: str
    content_type: str | None
    tags: dict[str, str]
    enabled: bool = True
    created: int = field(default_factory=lambda: int(time.time()))
    updated: int = field(default_factory=lambda: int(time.time()))


@dataclass
class StoredSecret:
    name: str  # as first written; lookups are case-insensitive
    versions: list[SecretVersion] = field(default_factory=list)
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None

    @property
    def latest(self) -> SecretVersion:
        return self.versions[-1]


@dataclass
class IssuedToken:
    client_id: str
    scope: str
    expires_at: float


class AzureKeyVaultServer(FakeHttpServer):
    """Key Vault secrets REST API + a fake Entra ID token service on https://127.0.0.1."""

    def __init__(
        self,
        *,
        vault_name: str = "fake-vault",
        tenant_id: str = "00000000-0000-0000-0000-00000000fa4e",
        client_id: str = "00000000-0000-0000-0000-0000000c11e7",
        client_secret: str = "fake-client-secret",
        token_lifetime: int = 3599,
    ) -> None:
        super().__init__(tls=True, hostnames=(ENTRA_HOST, f"*.{VAULT_RESOURCE[8:]}"))
        self.vault_name = vault_name
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self._clients: dict[str, str] = {client_id: client_secret}
        self._revoked_clients: set[str] = set()
        self._tokens: dict[str, IssuedToken] = {}
        self._secrets: dict[str, StoredSecret] = {}
        self._denied: dict[str, str] = {}
        #: Access tokens issued by the token endpoint, in order.
        self.tokens_issued: list[str] = []
        self._proxy: ConnectProxy | None = None
        self._proxy_lock = threading.Lock()
        secret = r"/secrets/(?P<name>[^/]+)"
        deleted = r"/deletedsecrets/(?P<name>[^/]+)"
        tenant = r"/(?P<tenant>[^/]+)"
        routes = [
            ("GET", secret + r"/versions", "secrets.versions", self._list_versions),
            ("GET", secret + r"/?", "secrets.get", self._get_secret),
            ("GET", secret + r"/(?P<version>[^/]+)", "secrets.get", self._get_secret),
            ("PUT", secret, "secrets.set", self._set_secret),
            ("PATCH", secret + r"/(?P<version>[^/]*)", "secrets.update", self._update_secret),
            ("DELETE", secret, "secrets.delete", self._delete_secret),
            ("GET", r"/secrets/?", "secrets.list", self._list_secrets),
            ("GET", r"/deletedsecrets/?", "deleted.list", self._list_deleted),
            ("GET", deleted, "deleted.get", self._get_deleted),
            ("DELETE", deleted, "deleted.purge", self._purge_deleted),
            ("POST", deleted + r"/recover", "deleted.recover", self._recover_deleted),
        ]
        for method, pattern, name, handler in routes:
            self.add_route(method, pattern, name, self._vault_route(handler))
        self.add_route("POST", tenant + r"/oauth2/v2\.0/token", "entra.token", self._token)
        self.add_route(
            "GET",
            tenant + r"/v2\.0/\.well-known/openid-configuration",
            "entra.openid",
            self._openid,
        )
        self.add_route(
            "GET", r"/common/discovery/instance", "entra.discovery", self._instance_discovery
        )

    # -- lifecycle and client configuration ---------------------------------------

    def stop(self) -> None:
        with self._proxy_lock:
            proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.stop()
        super().stop()

    @property
    def vault_url(self) -> str:
        """The vault as https://127.0.0.1:PORT (needs verify_challenge_resource=False)."""
        return self.url

    @property
    def public_vault_url(self) -> str:
        """The vault under its real-looking name; reachable only with `env()` applied."""
        return f"https://{self.vault_name}.vault.azure.net"

    @property
    def proxy(self) -> ConnectProxy:
        """The CONNECT proxy that maps Entra ID and *.vault.azure.net to this server."""
        with self._proxy_lock:
            if self._proxy is None:
                self._proxy = ConnectProxy(
                    {ENTRA_HOST: self.port, f"*.{VAULT_RESOURCE[8:]}": self.port}
                ).start()
            return self._proxy

    def env(self) -> dict[str, str]:
        """Environment for azure-identity + azure-keyvault-secrets with default settings:
        use with `public_vault_url` and `DefaultAzureCredential()`."""
        return {
            "HTTPS_PROXY": self.proxy.url,
            "https_proxy": self.proxy.url,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "SSL_CERT_FILE": self.ca_bundle,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential",
        }

    # -- test controls -----------------------------------------------------------

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        enabled: bool = True,
    ) -> str:
        """Add a version of `name` (creating it); returns the version id."""
        with self.lock:
            secret = self._secrets.get(name.lower())
            if secret is None or secret.deleted_date is not None:
                secret = StoredSecret(name)
                self._secrets[name.lower()] = secret
            version = SecretVersion(uuid.uuid4().hex, value, content_type, dict(tags or {}))
            version.enabled = enabled
            secret.versions.append(version)
            return version.version

    def versions(self, name: str) -> list[dict[str, Any]]:
        """The versions of `name`, oldest first (for assertions)."""
        with self.lock:
            secret = self._secrets.get(name.lower())
            if secret is None:
                return []
            return [
                {"version": v.version, "value": v.value, "enabled": v.enabled}
                for v in secret.versions
            ]

    def is_deleted(self, name: str) -> bool:
        with self.lock:
            secret = self._secrets.get(name.lower())
            return secret is not None and secret.deleted_date is not None

    def deny(self, name: str, innererror: str = "AccessDenied") -> None:
        """403 Forbidden for every operation on `name`. `innererror` is "AccessDenied"
        (access policies), "ForbiddenByRbac" or "ForbiddenByPolicy"."""
        with self.lock:
            self._denied[name.lower()] = innererror

    def allow(self, name: str) -> None:
        with self.lock:
            self._denied.pop(name.lower(), None)

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid (401 with a fresh challenge)."""
        with self.lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def add_client(self, client_id: str, client_secret: str) -> None:
        """Register another app (service principal) with the token endpoint."""
        with self.lock:
            self._clients[client_id] = client_secret
            self._revoked_clients.discard(client_id)

    def revoke_client(self, client_id: str | None = None) -> None:
        """The token endpoint rejects this app's secret from now on (invalid_client)."""
        with self.lock:
            self._revoked_clients.add(client_id or self.client_id)

    def reset(self) -> None:
        """Forget secrets, denials, tokens, revocations, faults and counts."""
        with self.lock:
            self._secrets.clear()
            self._denied.clear()
            self._tokens.clear()
            self._revoked_clients.clear()
            self._clients = {self.client_id: self.client_secret}
            self.tokens_issued.clear()
        self.clear_faults()
        self.reset_counts()

    # -- errors ------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        code, text, headers = {
            400: ("BadParameter", "The request is invalid.", {}),
            401: ("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", {}),
            403: ("Forbidden", "Access denied.", {}),
            404: ("NotFound", "The requested resource was not found.", {}),
            409: ("Conflict", "The request conflicts with the current state.", {}),
            429: (
                "Throttled",
                "Request was not processed because too many requests were received. Reason: A1",
                {"Retry-After": "0"},
            ),
            500: ("InternalServerError", "An internal server error occurred.", {}),
            503: ("ServiceUnavailable", "The service is temporarily unavailable.", {}),
        }.get(status, ("Error", message, {}))
        if message != "injected failure":
            text = message
        error = KeyVaultError(status, code, text, headers=headers)
        if status == 401:
            error.headers["WWW-Authenticate"] = self._challenge_header(None)
        return self._error(error)

    def _error(self, error: KeyVaultError) -> Response:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.innererror:
            body["innererror"] = {"code": error.innererror}
        return Response.json(error.status, {"error": body}, self._headers(error.headers))

    def route_not_found(self, request: Request) -> Response:
        return self._error(
            KeyVaultError(404, "NotFound", f"The requested path {request.raw_path} was not found.")
        )

    @staticmethod
    def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "Cache-Control": "no-cache",
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-keyvault-service-version": "1.9.0.0",
            "x-ms-keyvault-region": "fakeregion",
            **(extra or {}),
        }

    def _challenge_header(self, request: Request | None) -> str:
        host = (request.headers.get("Host") if request is not None else None) or ""
        if host.endswith(".vault.azure.net") or host.endswith(".vault.azure.net:443"):
            authority = f"https://{ENTRA_HOST}"
        else:
            authority = self.url
        return f'Bearer authorization="{authority}/{self.tenant_id}", resource="{VAULT_RESOURCE}"'

    # -- vault plumbing ----------------------------------------------------------

    def _vault_route(self, handler: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                self._authenticate(request)
                version = request.arg("api-version")
                if not version:
                    raise KeyVaultError(
                        400, "BadParameter", "The 'api-version' query parameter is missing."
                    )
                if not API_VERSION_RULE.fullmatch(version):
                    raise KeyVaultError(
                        400,
                        "BadParameter",
                        f"The specified version ({version}) is not recognized. Consider using "
                        "the latest supported version (2025-07-01).",
                    )
                return handler(request)
            except KeyVaultError as error:
                return self._error(error)

        return run

    def _authenticate(self, request: Request) -> None:
        token = request.bearer_token()
        challenge = {"WWW-Authenticate": self._challenge_header(request)}
        if token is None:
            raise KeyVaultError(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                headers=challenge,
            )
        with self.lock:
            issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= time.time():
            raise KeyVaultError(
                401,
                "Unauthorized",
                "AKV10022: Invalid token: the token is expired or was not issued for this vault.",
                headers=challenge,
            )
        if issued.scope != VAULT_SCOPE:
            raise KeyVaultError(
                401,
                "Unauthorized",
                f"AKV10022: Invalid audience. Expected {VAULT_RESOURCE}, found: {issued.scope}.",
                headers=challenge,
            )

    def _origin(self, request: Request) -> str:
        host = request.headers.get("Host") or f"127.0.0.1:{self.port}"
        return "https://" + host.removesuffix(":443")

    def _name(self, request: Request, operation: str) -> str:
        name = request.params["name"]
        if not NAME_RULE.fullmatch(name):
            raise KeyVaultError(
                400, "BadParameter", f"The request URI contains an invalid name: {name}"
            )
        with self.lock:
            innererror = self._denied.get(name.lower())
        if innererror is not None:
            token = request.bearer_token() or ""
            with self.lock:
                issued = self._tokens.get(token)
            app = issued.client_id if issued else "unknown"
            raise KeyVaultError(
                403,
                "Forbidden",
                f"The user, group or application 'appid={app};oid={app};"
                f"iss=https://sts.windows.net/{self.tenant_id}/' does not have secrets "
                f"{operation} permission on key vault '{self.vault_name};location=fakeregion'. "
                "For help resolving this issue, please see "
                "https://go.microsoft.com/fwlink/?linkid=2125287",
                innererror=innererror,
            )
        return name

    def _live(self, name: str) -> StoredSecret:
        secret = self._secrets.get(name.lower())
        if secret is None or secret.deleted_date is not None or not secret.versions:
            raise KeyVaultError(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name} was not found in this key vault. "
                + _NOT_FOUND_HELP,
            )
        return secret

    def _deleted(self, name: str) -> StoredSecret:
        secret = self._secrets.get(name.lower())
        if secret is None or secret.deleted_date is None:
            raise KeyVaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        return secret

    @staticmethod
    def _attributes(version: SecretVersion) -> dict[str, Any]:
        return {
            "enabled": version.enabled,
            "created": version.created,
            "updated": version.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": RECOVERABLE_DAYS,
        }

    def _bundle(
        self, request: Request, secret: StoredSecret, version: SecretVersion, *, value: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if value:
            body["value"] = version.value
        if version.content_type is not None:
            body["contentType"] = version.content_type
        body["id"] = f"{self._origin(request)}/secrets/{secret.name}/{version.version}"
        body["attributes"] = self._attributes(version)
        if version.tags:
            body["tags"] = dict(version.tags)
        return body

    def _deleted_bundle(self, request: Request, secret: StoredSecret) -> dict[str, Any]:
        body = self._bundle(request, secret, secret.latest, value=False)
        body["recoveryId"] = f"{self._origin(request)}/deletedsecrets/{secret.name}"
        body["deletedDate"] = secret.deleted_date
        body["scheduledPurgeDate"] = secret.scheduled_purge_date
        return body

    def _page(self, request: Request, path: str, items: list[dict[str, Any]]) -> Response:
        raw_max = request.arg("maxresults")
        try:
            maxresults = int(raw_max) if raw_max else MAX_RESULTS
            start = int(request.arg("$skiptoken") or 0)
        except ValueError as error:
            raise KeyVaultError(400, "BadParameter", "Invalid paging parameters.") from error
        if not 1 <= maxresults <= MAX_RESULTS:
            raise KeyVaultError(
                400,
                "BadParameter",
                f"The value of maxresults must be between 1 and {MAX_RESULTS}.",
            )
        body: dict[str, Any] = {"value": items[start : start + maxresults]}
        if start + maxresults < len(items):
            query = urllib.parse.urlencode(
                {
                    "api-version": request.arg("api-version"),
                    "$skiptoken": str(start + maxresults),
                    "maxresults": str(maxresults),
                }
            )
            body["nextLink"] = f"{self._origin(request)}{path}?{query}"
        else:
            body["nextLink"] = None
        return Response.json(200, body, self._headers())

    # -- vault handlers ------------------------------------------------------------

    def _get_secret(self, request: Request) -> Response:
        name = self._name(request, "get")
        wanted = request.params.get("version") or ""
        with self.lock:
            secret = self._live(name)
            if wanted:
                version = next((v for v in secret.versions if v.version == wanted), None)
                if version is None:
                    raise KeyVaultError(
                        404,
                        "SecretNotFound",
                        f"A secret with (name/id) {name}/{wanted} was not found in this key "
                        "vault. " + _NOT_FOUND_HELP,
                    )
            else:
                version = secret.latest
            if not version.enabled:
                raise KeyVaultError(
                    403,
                    "Forbidden",
                    "Operation get is not allowed on a disabled secret.",
                    innererror="SecretDisabled",
                )
            return Response.json(
                200, self._bundle(request, secret, version, value=True), self._headers()
            )

    def _set_secret(self, request: Request) -> Response:
        name = self._name(request, "set")
        try:
            body = request.json() or {}
        except ValueError as error:
            raise KeyVaultError(400, "BadParameter", "The request body is not JSON.") from error
        value = body.get("value")
        if not isinstance(value, str):
            raise KeyVaultError(400, "BadParameter", "Property 'value' is required.")
        with self.lock:
            secret = self._secrets.get(name.lower())
            if secret is not None and secret.deleted_date is not None:
                raise KeyVaultError(
                    409,
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, and its "
                    "name cannot be reused; in this state, the secret can only be recovered "
                    "or purged.",
                )
            if secret is None:
                secret = StoredSecret(name)
                self._secrets[name.lower()] = secret
            attributes = body.get("attributes") or {}
            version = SecretVersion(
                uuid.uuid4().hex,
                value,
                body.get("contentType"),
                dict(body.get("tags") or {}),
                enabled=bool(attributes.get("enabled", True)),
            )
            secret.versions.append(version)
            return Response.json(
                200, self._bundle(request, secret, version, value=True), self._headers()
            )

    def _update_secret(self, request: Request) -> Response:
        name = self._name(request, "set")
        wanted = request.params.get("version") or ""
        body = request.json() or {}
        with self.lock:
            secret = self._live(name)
            version = (
                next((v for v in secret.versions if v.version == wanted), None)
                if wanted
                else secret.latest
            )
            if version is None:
                raise KeyVaultError(
                    404,
                    "SecretNotFound",
                    f"A secret with (name/id) {name}/{wanted} was not found in this key vault. "
                    + _NOT_FOUND_HELP,
                )
            attributes = body.get("attributes") or {}
            if "enabled" in attributes:
                version.enabled = bool(attributes["enabled"])
            if "contentType" in body:
                version.content_type = body["contentType"]
            if "tags" in body:
                version.tags = dict(body["tags"] or {})
            version.updated = int(time.time())
            return Response.json(
                200, self._bundle(request, secret, version, value=False), self._headers()
            )

    def _delete_secret(self, request: Request) -> Response:
        name = self._name(request, "delete")
        with self.lock:
            secret = self._live(name)
            now = int(time.time())
            secret.deleted_date = now
            secret.scheduled_purge_date = now + RECOVERABLE_DAYS * 86400
            return Response.json(200, self._deleted_bundle(request, secret), self._headers())

    def _list_secrets(self, request: Request) -> Response:
        with self.lock:
            items = []
            for secret in sorted(self._secrets.values(), key=lambda s: s.name.lower()):
                if secret.deleted_date is not None or not secret.versions:
                    continue
                item = self._bundle(request, secret, secret.latest, value=False)
                item["id"] = f"{self._origin(request)}/secrets/{secret.name}"
                items.append(item)
        return self._page(request, "/secrets", items)

    def _list_versions(self, request: Request) -> Response:
        name = self._name(request, "list")
        with self.lock:
            secret = self._live(name)
            items = [self._bundle(request, secret, v, value=False) for v in secret.versions]
        return self._page(request, f"/secrets/{secret.name}/versions", items)

    def _list_deleted(self, request: Request) -> Response:
        with self.lock:
            items = [
                self._deleted_bundle(request, s)
                for s in sorted(self._secrets.values(), key=lambda s: s.name.lower())
                if s.deleted_date is not None
            ]
        return self._page(request, "/deletedsecrets", items)

    def _get_deleted(self, request: Request) -> Response:
        name = self._name(request, "get")
        with self.lock:
            secret = self._deleted(name)
            return Response.json(200, self._deleted_bundle(request, secret), self._headers())

    def _purge_deleted(self, request: Request) -> Response:
        name = self._name(request, "purge")
        with self.lock:
            self._deleted(name)
            del self._secrets[name.lower()]
        return Response.empty(204, self._headers())

    def _recover_deleted(self, request: Request) -> Response:
        name = self._name(request, "recover")
        with self.lock:
            secret = self._deleted(name)
            secret.deleted_date = None
            secret.scheduled_purge_date = None
            return Response.json(
                200, self._bundle(request, secret, secret.latest, value=False), self._headers()
            )

    # -- Entra ID ------------------------------------------------------------------

    def _entra_error(self, status: int, error: str, code: int, description: str) -> Response:
        return Response.json(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description}",
                "error_codes": [code],
                "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            },
            {"Cache-Control": "no-store, no-cache"},
        )

    def _openid(self, request: Request) -> Response:
        tenant = request.params["tenant"]
        if tenant not in (self.tenant_id, "organizations", "common"):
            return self._entra_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self._origin(request)}/{tenant}"
        return Response.json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{self._origin(request)}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
            },
        )

    def _instance_discovery(self, request: Request) -> Response:
        return Response.json(
            200,
            {
                "tenant_discovery_endpoint": (
                    f"{self._origin(request)}/{self.tenant_id}/v2.0/.well-known/"
                    "openid-configuration"
                ),
                "api-version": "1.1",
                "metadata": [],
            },
        )

    def _token(self, request: Request) -> Response:
        tenant = request.params["tenant"]
        form = {k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode()).items()}
        if tenant != self.tenant_id:
            return self._entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return self._entra_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
        client_id = form.get("client_id", "")
        with self.lock:
            expected = self._clients.get(client_id)
            revoked = client_id in self._revoked_clients
        if expected is None:
            return self._entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        if revoked or form.get("client_secret") != expected:
            return self._entra_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                f"is the client secret value, not the client secret ID, for a secret added "
                f"to app '{client_id}'.",
            )
        scopes = form.get("scope", "").split()
        scope = next((s for s in scopes if s.endswith("/.default")), "")
        if not scope:
            return self._entra_error(
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier.",
            )
        token = "fake-aad-token-" + random_tokens.token_hex(16)
        with self.lock:
            self._tokens[token] = IssuedToken(client_id, scope, time.time() + self.token_lifetime)
            self.tokens_issued.append(token)
        return Response.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            },
            {"Cache-Control": "no-store, no-cache"},
        )
