"""An in-memory GCP Secret Manager speaking the REST API v1, for the official client.

Google ships no Secret Manager emulator, so this is ours. Start it and point the official
client at it with only an endpoint override (REST transport; the client's default gRPC
transport cannot reach it)::

    from google.cloud import secretmanager
    from google.oauth2.credentials import Credentials

    with GcpSecretManagerServer() as gcp:
        gcp.add_secret("fake-project", "db-password", b"fake-value")    # version 1
        client = secretmanager.SecretManagerServiceClient(
            credentials=Credentials(token="fake-token"),
            transport="rest",
            client_options={"api_endpoint": gcp.url},    # "http://127.0.0.1:PORT"
        )
        name = "projects/fake-project/secrets/db-password/versions/latest"
        assert client.access_secret_version(name=name).payload.data == b"fake-value"
        gcp.deny("db-password")            # 403 PERMISSION_DENIED -> exceptions.Forbidden
        gcp.expire_all_tokens()            # 401 UNAUTHENTICATED (see below for what raises)
        gcp.fail_next(1, 429)              # RESOURCE_EXHAUSTED -> exceptions.TooManyRequests

Over REST, google-api-core picks the exception class from the HTTP status only, so 403
raises `Forbidden` (not its gRPC subclass `PermissionDenied`), 429 `TooManyRequests` (not
`ResourceExhausted`), 503 `ServiceUnavailable`, 404 `NotFound`, 409 `Conflict`, and every
400 `BadRequest` (FAILED_PRECONDITION and INVALID_ARGUMENT alike; `exc.message` tells
them apart); catch the base classes to cover both transports. A 401 never reaches the
caller as such: google-auth's session refreshes the credentials and retries (twice), so
static-token credentials raise `google.auth.exceptions.RefreshError`, refreshable ones
end in `Unauthorized` (`exc.reason == "ACCESS_TOKEN_EXPIRED"`). `access_secret_version`
retries 503 for up to 60 s by default (pass `retry=` to bound it). The async client has
no REST transport in this version: `SecretManagerServiceAsyncClient(transport="rest")`
constructs but its calls fail (TypeError); run the sync client in a thread.

Faithful: the paths and verbs of v1 for global (`projects/P/secrets`) and regional
(`projects/P/locations/L/secrets`) secrets; resource names in answers use the project
*number* (`projects/123456789012/...`) as the real API does, while requests may use the
id or the number (`project_number(project)` gives it); JSON field names and shapes
(`payload.data` base64 + `dataCrc32c` int64-as-string, `createTime`, `etag`, `state`,
`replication`; enums as numbers when the client asks `$alt=json;enum-encoding=int`, as
the official client does); `latest` is the most recently created version whatever its state
(accessing it while DISABLED/DESTROYED is FAILED_PRECONDITION "... is in DISABLED
state."); DESTROYED is terminal; version numbers are never reused; versions list newest
first; pagination with pageSize/pageToken/nextPageToken/totalSize; a supplied
`dataCrc32c` is checked on addVersion (INVALID_ARGUMENT on mismatch) and echoed as
`clientSpecifiedPayloadChecksum`; the secret-id rule `[a-zA-Z0-9_-]{1,255}`; 64 KiB
payload limit; Google error bodies `{"error": {"code", "message", "status", "details"}}`
with an ErrorInfo detail (reason IAM_PERMISSION_DENIED, ACCESS_TOKEN_EXPIRED,
CREDENTIALS_MISSING, RATE_LIMIT_EXCEEDED) so `exc.reason` works; 401 is checked before
403, and 403 before 404 (a denied secret is denied even if it does not exist).

Simplified: any non-empty bearer token is valid unless `require_tokens`/`expire_*` say
otherwise (no token introspection, no scopes); IAM is `deny(secret)` on every per-secret
permission (listing secrets is project-level and still shows it); `filter` supports
`name:`/`name=`, `labels.K:`/`labels.K=`, `state:` with AND/OR/space, nothing else;
secrets list sorted by name; no PATCH/update, rotation, IAM policy, version aliases,
CMEK, TTL/expiry, or location listing; `replication` defaults to automatic when omitted;
error *messages* follow the real ones where we know them but are not guaranteed verbatim.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import google_crc32c

from tests.support.fake_http import FakeHttpServer, Request, Response

#: HTTP status for each google.rpc.Code name we emit.
STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
#: The google.rpc.Code name used for an injected failure with a given HTTP status.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    "UNAUTHENTICATED": (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    "RESOURCE_EXHAUSTED": (
        "Quota exceeded for quota metric 'Access requests' and limit 'Access requests per "
        "minute per project' of service 'secretmanager.googleapis.com'."
    ),
    "UNAVAILABLE": "The service is currently unavailable.",
    "INTERNAL": "Internal error encountered.",
    "DEADLINE_EXCEEDED": "The request was aborted because it exceeded its deadline.",
}
#: SecretVersion.State numbers, sent when the client asks `$alt=json;enum-encoding=int`.
STATE_NUMBERS = {"STATE_UNSPECIFIED": 0, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}
SECRET_ID_RULE = re.compile(r"[a-zA-Z0-9_-]{1,255}")
MAX_PAYLOAD = 64 * 1024
MAX_PAGE_SIZE = 25000

_PARENT = r"/v1/projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?"
_SECRET = _PARENT + r"/secrets/(?P<secret>[^/:]+)"
_VERSION = _SECRET + r"/versions/(?P<version>[^/:]+)"


class GoogleApiError(Exception):
    """Raised by handlers; becomes a Google error body."""

    def __init__(
        self, status: str, message: str, reason: str | None = None, **metadata: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.metadata = metadata


def project_number(project: str) -> str:
    """The fake, stable 12-digit number of a project id (a number maps to itself)."""
    if project.isdigit():
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return str(100000000000 + digest % 899999999999)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _etag() -> str:
    return '"' + hashlib.sha1(_now().encode(), usedforsecurity=False).hexdigest()[:14] + '"'


@dataclass
class SecretVersion:
    number: int
    data: bytes
    state: str = "ENABLED"  # ENABLED | DISABLED | DESTROYED
    create_time: str = field(default_factory=_now)
    destroy_time: str | None = None
    client_checksum: bool = False
    etag: str = field(default_factory=_etag)


@dataclass
class StoredSecret:
    project: str  # the project number
    location: str | None
    secret_id: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    replication: dict[str, Any] | None = None
    create_time: str = field(default_factory=_now)
    etag: str = field(default_factory=_etag)
    versions: list[SecretVersion] = field(default_factory=list)
    next_version: int = 1

    @property
    def name(self) -> str:
        location = f"/locations/{self.location}" if self.location else ""
        return f"projects/{self.project}{location}/secrets/{self.secret_id}"

    def resource(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "createTime": self.create_time}
        if self.location is None:
            body["replication"] = self.replication or {"automatic": {}}
        if self.labels:
            body["labels"] = dict(self.labels)
        if self.annotations:
            body["annotations"] = dict(self.annotations)
        body["etag"] = self.etag
        return body

    def version_resource(
        self, version: SecretVersion, *, int_enums: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"{self.name}/versions/{version.number}",
            "createTime": version.create_time,
            "state": STATE_NUMBERS[version.state] if int_enums else version.state,
            "etag": version.etag,
        }
        if version.destroy_time:
            body["destroyTime"] = version.destroy_time
        if self.location is None:
            body["replicationStatus"] = {"automatic": {}}
        if version.client_checksum:
            body["clientSpecifiedPayloadChecksum"] = True
        return body


class GcpSecretManagerServer(FakeHttpServer):
    """Secret Manager REST v1 on 127.0.0.1 (http by default; `tls=True` for https)."""

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self._secrets: dict[tuple[str, str | None, str], StoredSecret] = {}
        self._denied: set[tuple[str | None, str]] = set()
        self._required_tokens: set[str] | None = None
        self._expired_tokens: set[str] = set()
        self._all_expired = False
        #: Bearer tokens seen, in order (to assert which credentials the client used).
        self.tokens_seen: list[str] = []
        self._tokens_lock = threading.Lock()
        routes = [
            ("POST", _PARENT + r"/secrets", "secrets.create", self._create_secret),
            ("GET", _PARENT + r"/secrets", "secrets.list", self._list_secrets),
            ("GET", _SECRET, "secrets.get", self._get_secret),
            ("DELETE", _SECRET, "secrets.delete", self._delete_secret),
            ("POST", _SECRET + r":addVersion", "secrets.addVersion", self._add_version),
            ("GET", _SECRET + r"/versions", "versions.list", self._list_versions),
            ("GET", _VERSION, "versions.get", self._get_version),
            ("GET", _VERSION + r":access", "versions.access", self._access_version),
            ("POST", _VERSION + r":disable", "versions.disable", self._disable_version),
            ("POST", _VERSION + r":enable", "versions.enable", self._enable_version),
            ("POST", _VERSION + r":destroy", "versions.destroy", self._destroy_version),
        ]
        for method, pattern, name, handler in routes:
            self.add_route(method, pattern, name, self._guarded(handler))

    # -- test controls -----------------------------------------------------------

    @staticmethod
    def project_number(project: str) -> str:
        return project_number(project)

    def add_secret(
        self,
        project: str,
        secret_id: str,
        data: bytes | str,
        *,
        labels: dict[str, str] | None = None,
        location: str | None = None,
    ) -> int:
        """Create `secret_id` if needed and add a version holding `data`; its number."""
        if isinstance(data, str):
            data = data.encode()
        with self.lock:
            secret = self._secrets.get(self._key(project, location, secret_id))
            if secret is None:
                secret = StoredSecret(project_number(project), location, secret_id)
                self._secrets[self._key(project, location, secret_id)] = secret
            if labels:
                secret.labels.update(labels)
            version = SecretVersion(secret.next_version, data)
            secret.next_version += 1
            secret.versions.append(version)
            return version.number

    def versions(
        self, project: str, secret_id: str, *, location: str | None = None
    ) -> list[dict[str, Any]]:
        """The secret's versions, oldest first: {"number", "state", "data"} (for asserts)."""
        with self.lock:
            secret = self._secrets.get(self._key(project, location, secret_id))
            if secret is None:
                return []
            return [{"number": v.number, "state": v.state, "data": v.data} for v in secret.versions]

    def secret_ids(self, project: str, *, location: str | None = None) -> list[str]:
        with self.lock:
            return sorted(
                s.secret_id
                for s in self._secrets.values()
                if s.project == project_number(project) and s.location == location
            )

    def set_version_state(
        self,
        project: str,
        secret_id: str,
        version: int,
        state: str,
        *,
        location: str | None = None,
    ) -> None:
        """Put a version in ENABLED, DISABLED or DESTROYED (which drops its data)."""
        with self.lock:
            secret = self._secrets[self._key(project, location, secret_id)]
            stored = next(v for v in secret.versions if v.number == version)
            stored.state = state
            if state == "DESTROYED":
                stored.data = b""
                stored.destroy_time = _now()

    def remove_secret(self, project: str, secret_id: str, *, location: str | None = None) -> None:
        with self.lock:
            self._secrets.pop(self._key(project, location, secret_id), None)

    def deny(self, secret_id: str, project: str | None = None) -> None:
        """Answer 403 PERMISSION_DENIED for every call on this secret (any project unless
        one is given), as IAM does for a caller without a role on it."""
        with self.lock:
            self._denied.add((project_number(project) if project else None, secret_id))

    def allow(self, secret_id: str, project: str | None = None) -> None:
        with self.lock:
            self._denied.discard((project_number(project) if project else None, secret_id))

    def require_tokens(self, *tokens: str) -> None:
        """Accept only these bearer tokens (401 for others); no arguments: accept any."""
        with self.lock:
            self._required_tokens = set(tokens) or None

    def expire_token(self, token: str) -> None:
        """Answer 401 UNAUTHENTICATED (ACCESS_TOKEN_EXPIRED) to this token from now on."""
        with self.lock:
            self._expired_tokens.add(token)

    def expire_all_tokens(self, expired: bool = True) -> None:
        """Answer 401 to every token (expired credentials) until called with False."""
        with self.lock:
            self._all_expired = expired
            if not expired:
                self._expired_tokens.clear()

    def reset(self) -> None:
        """Forget all secrets, denials, token rules, faults and counts."""
        with self.lock:
            self._secrets.clear()
            self._denied.clear()
            self._required_tokens = None
            self._expired_tokens.clear()
            self._all_expired = False
        with self._tokens_lock:
            self.tokens_seen.clear()
        self.clear_faults()
        self.reset_counts()

    # -- errors ------------------------------------------------------------------

    def error_response(self, status: int, message: str) -> Response:
        name = _STATUS_NAMES.get(status, "UNKNOWN")
        reason = {
            "RESOURCE_EXHAUSTED": "RATE_LIMIT_EXCEEDED",
            "UNAUTHENTICATED": "ACCESS_TOKEN_EXPIRED",
        }.get(name)
        if message == "injected failure":
            message = _DEFAULT_MESSAGES.get(name, message)
        return self._google_error(GoogleApiError(name, message, reason), http_status=status)

    @staticmethod
    def _google_error(error: GoogleApiError, http_status: int | None = None) -> Response:
        body: dict[str, Any] = {
            "code": http_status or STATUS_CODES.get(error.status, 500),
            "message": error.message,
            "status": error.status,
        }
        if error.reason:
            body["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": error.reason,
                    "domain": "iam.googleapis.com"
                    if error.status == "PERMISSION_DENIED"
                    else "googleapis.com",
                    "metadata": {"service": "secretmanager.googleapis.com", **error.metadata},
                }
            ]
        headers = {"Vary": "X-Origin, Referer, Origin,Accept-Encoding"}
        return Response.json(body["code"], {"error": body}, headers)

    def route_not_found(self, request: Request) -> Response:
        return self._google_error(
            GoogleApiError("NOT_FOUND", f"The requested URL {request.raw_path} was not found.")
        )

    # -- request plumbing ----------------------------------------------------------

    @staticmethod
    def _key(project: str, location: str | None, secret_id: str) -> tuple[str, str | None, str]:
        return (project_number(project), location, secret_id)

    def _guarded(self, handler: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                self._authenticate(request)
                return handler(request)
            except GoogleApiError as error:
                return self._google_error(error)

        return run

    def _authenticate(self, request: Request) -> None:
        token = request.bearer_token()
        if token is None:
            raise GoogleApiError(
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "CREDENTIALS_MISSING",
            )
        with self._tokens_lock:
            self.tokens_seen.append(token)
        with self.lock:
            rejected = (
                self._all_expired
                or token in self._expired_tokens
                or (self._required_tokens is not None and token not in self._required_tokens)
            )
        if rejected:
            raise GoogleApiError(
                "UNAUTHENTICATED", _DEFAULT_MESSAGES["UNAUTHENTICATED"], "ACCESS_TOKEN_EXPIRED"
            )

    @staticmethod
    def _int_enums(request: Request) -> bool:
        """The official REST clients send `$alt=json;enum-encoding=int` and get enum numbers."""
        return "enum-encoding=int" in (request.arg("$alt") or "")

    def _check_id(self, secret_id: str) -> None:
        if not SECRET_ID_RULE.fullmatch(secret_id):
            raise GoogleApiError(
                "INVALID_ARGUMENT",
                f"Secret ID [{secret_id}] is invalid: it must be 1 to 255 characters long "
                "and contain only letters, digits, underscores (_) and hyphens (-).",
            )

    def _check_allowed(self, request: Request, permission: str, resource: str) -> None:
        project = project_number(request.params["project"])
        secret_id = request.params["secret"]
        with self.lock:
            denied = (None, secret_id) in self._denied or (project, secret_id) in self._denied
        if denied:
            raise GoogleApiError(
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied for resource '{resource}' "
                "(or it may not exist).",
                "IAM_PERMISSION_DENIED",
                permission=permission,
                resource=resource,
            )

    def _secret(self, request: Request, permission: str, suffix: str = "") -> StoredSecret:
        """The secret a request names, after the id and permission checks (404 if none)."""
        params = request.params
        self._check_id(params["secret"])
        location = params.get("location")
        requested = (
            f"projects/{params['project']}"
            + (f"/locations/{location}" if location else "")
            + f"/secrets/{params['secret']}"
        )
        self._check_allowed(request, permission, requested + suffix)
        secret = self._secrets.get(self._key(params["project"], location, params["secret"]))
        if secret is None:
            name = StoredSecret(project_number(params["project"]), location, params["secret"]).name
            if permission == "secretmanager.versions.access":
                raise GoogleApiError("NOT_FOUND", f"Secret [{name}] not found or has no versions.")
            raise GoogleApiError("NOT_FOUND", f"Secret [{name}] not found.")
        return secret

    def _version(self, request: Request, permission: str) -> tuple[StoredSecret, SecretVersion]:
        wanted = request.params["version"]
        secret = self._secret(request, permission, f"/versions/{wanted}")
        if wanted == "latest":
            if not secret.versions:
                raise GoogleApiError(
                    "NOT_FOUND", f"Secret [{secret.name}] not found or has no versions."
                )
            return secret, secret.versions[-1]
        if not wanted.isdigit() or int(wanted) < 1:
            raise GoogleApiError(
                "INVALID_ARGUMENT",
                f"Invalid version [{wanted}]: must be a positive number or 'latest'.",
            )
        for version in secret.versions:
            if version.number == int(wanted):
                return secret, version
        raise GoogleApiError(
            "NOT_FOUND", f"Secret Version [{secret.name}/versions/{wanted}] not found."
        )

    @staticmethod
    def _page(request: Request, items: list[Any]) -> tuple[list[Any], str | None]:
        size_arg = request.arg("pageSize") or "0"
        token = request.arg("pageToken") or ""
        try:
            size = int(size_arg)
            start = int(base64.urlsafe_b64decode(token.encode()).decode() or 0) if token else 0
        except (ValueError, binascii.Error) as error:
            raise GoogleApiError("INVALID_ARGUMENT", "Invalid page token or page size.") from error
        if size < 0:
            raise GoogleApiError("INVALID_ARGUMENT", "page_size must be non-negative.")
        size = min(size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        page = items[start : start + size]
        more = start + size < len(items)
        next_token = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else None
        return page, next_token

    @staticmethod
    def _matches(filter_text: str, fields: dict[str, str]) -> bool:
        """A small subset of the list filter: `a:b`, `a=b`, AND, OR, space (= AND)."""
        if not filter_text.strip():
            return True
        for alternative in re.split(r"\s+OR\s+", filter_text.strip()):
            terms = [t for t in re.split(r"\s+(?:AND\s+)?", alternative) if t and t != "AND"]
            if all(GcpSecretManagerServer._term(term, fields) for term in terms):
                return True
        return False

    @staticmethod
    def _term(term: str, fields: dict[str, str]) -> bool:
        match = re.fullmatch(r"([A-Za-z_.\-0-9]+)\s*([:=])\s*(.*)", term)
        if match is None:
            raise GoogleApiError("INVALID_ARGUMENT", f"Invalid filter: [{term}].")
        key, operator, value = match.groups()
        value = value.strip('"')
        if key not in fields and not key.startswith("labels."):
            raise GoogleApiError("INVALID_ARGUMENT", f"Invalid filter field: [{key}].")
        actual = fields.get(key)
        if actual is None:
            return False
        if operator == "=":
            return actual == value
        return value == "*" or value.lower() in actual.lower()

    # -- handlers ----------------------------------------------------------------

    def _create_secret(self, request: Request) -> Response:
        secret_id = request.arg("secretId")
        project, location = request.params["project"], request.params.get("location")
        if not secret_id:
            raise GoogleApiError("INVALID_ARGUMENT", "secret_id must be specified.")
        self._check_id(secret_id)
        body = request.json() or {}
        with self.lock:
            key = self._key(project, location, secret_id)
            if key in self._secrets:
                name = self._secrets[key].name
                raise GoogleApiError("ALREADY_EXISTS", f"Secret [{name}] already exists.")
            secret = StoredSecret(
                project_number(project),
                location,
                secret_id,
                labels=dict(body.get("labels") or {}),
                annotations=dict(body.get("annotations") or {}),
                replication=body.get("replication"),
            )
            self._secrets[key] = secret
            return Response.json(200, secret.resource())

    def _list_secrets(self, request: Request) -> Response:
        project, location = (
            project_number(request.params["project"]),
            request.params.get("location"),
        )
        with self.lock:
            secrets = sorted(
                (
                    s
                    for s in self._secrets.values()
                    if s.project == project and s.location == location
                ),
                key=lambda s: s.secret_id,
            )
            filter_text = request.arg("filter") or ""
            secrets = [
                s
                for s in secrets
                if self._matches(
                    filter_text,
                    {"name": s.secret_id, **{f"labels.{k}": v for k, v in s.labels.items()}},
                )
            ]
            page, next_token = self._page(request, secrets)
            body: dict[str, Any] = {}
            if page:
                body["secrets"] = [s.resource() for s in page]
            if next_token:
                body["nextPageToken"] = next_token
            body["totalSize"] = len(secrets)
            return Response.json(200, body)

    def _get_secret(self, request: Request) -> Response:
        with self.lock:
            return Response.json(200, self._secret(request, "secretmanager.secrets.get").resource())

    def _delete_secret(self, request: Request) -> Response:
        with self.lock:
            secret = self._secret(request, "secretmanager.secrets.delete")
            etag = request.arg("etag")
            if etag and etag != secret.etag:
                raise GoogleApiError("ABORTED", "The etag provided does not match.")
            del self._secrets[(secret.project, secret.location, secret.secret_id)]
            return Response.json(200, {})

    def _add_version(self, request: Request) -> Response:
        body = request.json() or {}
        payload = body.get("payload") or {}
        try:
            data = base64.b64decode(payload.get("data") or "", validate=True)
        except (binascii.Error, ValueError) as error:
            raise GoogleApiError("INVALID_ARGUMENT", "Invalid payload data.") from error
        if len(data) > MAX_PAYLOAD:
            raise GoogleApiError(
                "INVALID_ARGUMENT", f"Secret payload must not exceed {MAX_PAYLOAD} bytes."
            )
        checksum = payload.get("dataCrc32c")
        if checksum is not None and int(checksum) != google_crc32c.value(data):
            raise GoogleApiError(
                "INVALID_ARGUMENT",
                "Checksum mismatch: the data_crc32c supplied does not match the payload.",
            )
        with self.lock:
            secret = self._secret(request, "secretmanager.versions.add")
            version = SecretVersion(secret.next_version, data, client_checksum=checksum is not None)
            secret.next_version += 1
            secret.versions.append(version)
            return Response.json(
                200, secret.version_resource(version, int_enums=self._int_enums(request))
            )

    def _list_versions(self, request: Request) -> Response:
        with self.lock:
            secret = self._secret(request, "secretmanager.versions.list", "/versions/-")
            filter_text = request.arg("filter") or ""
            versions = [
                v
                for v in reversed(secret.versions)
                if self._matches(filter_text, {"state": v.state, "name": str(v.number)})
            ]
            page, next_token = self._page(request, versions)
            body: dict[str, Any] = {}
            if page:
                body["versions"] = [
                    secret.version_resource(v, int_enums=self._int_enums(request)) for v in page
                ]
            if next_token:
                body["nextPageToken"] = next_token
            body["totalSize"] = len(versions)
            return Response.json(200, body)

    def _get_version(self, request: Request) -> Response:
        with self.lock:
            secret, version = self._version(request, "secretmanager.versions.get")
            return Response.json(
                200, secret.version_resource(version, int_enums=self._int_enums(request))
            )

    def _access_version(self, request: Request) -> Response:
        with self.lock:
            secret, version = self._version(request, "secretmanager.versions.access")
            name = f"{secret.name}/versions/{version.number}"
            if version.state != "ENABLED":
                raise GoogleApiError(
                    "FAILED_PRECONDITION", f"Secret Version [{name}] is in {version.state} state."
                )
            payload = {
                "data": base64.b64encode(version.data).decode(),
                "dataCrc32c": str(google_crc32c.value(version.data)),
            }
            return Response.json(200, {"name": name, "payload": payload})

    def _change_state(self, request: Request, permission: str, state: str) -> Response:
        with self.lock:
            secret, version = self._version(request, permission)
            name = f"{secret.name}/versions/{version.number}"
            etag = (request.json() or {}).get("etag")
            if etag and etag != version.etag:
                raise GoogleApiError("ABORTED", "The etag provided does not match.")
            if version.state == "DESTROYED":
                raise GoogleApiError(
                    "FAILED_PRECONDITION", f"Secret Version [{name}] is in DESTROYED state."
                )
            version.state = state
            version.etag = _etag()
            if state == "DESTROYED":
                version.data = b""
                version.destroy_time = _now()
            return Response.json(
                200, secret.version_resource(version, int_enums=self._int_enums(request))
            )

    def _disable_version(self, request: Request) -> Response:
        return self._change_state(request, "secretmanager.versions.disable", "DISABLED")

    def _enable_version(self, request: Request) -> Response:
        return self._change_state(request, "secretmanager.versions.enable", "ENABLED")

    def _destroy_version(self, request: Request) -> Response:
        return self._change_state(request, "secretmanager.versions.destroy", "DESTROYED")
