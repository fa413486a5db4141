"""GCP Secret Manager (`kind = "gcp"`): the secrets of one Google Cloud project, read with
Application Default Credentials (ADC: `gcloud auth application-default login`,
`GOOGLE_APPLICATION_CREDENTIALS`, or the metadata server on GCE, GKE and Cloud Run).

| setting        | env var                            | default                            |
|----------------|------------------------------------|------------------------------------|
| `project`      | `PREFECT_SECRETS_GCP_PROJECT`      | ADC's project (required if none)   |
| `prefix`       | `PREFECT_SECRETS_GCP_PREFIX`       | "" (e.g. "prefect-")               |
| `api_endpoint` | `PREFECT_SECRETS_GCP_API_ENDPOINT` | Google's (emulators/private ones)  |

Names. Secret ids allow exactly the characters of our names (`[a-zA-Z0-9_-]`, case kept,
at most 255), so an id is the name itself after the prefix: a secret made in the console
as `DB_PASSWORD` is `Secret("DB_PASSWORD")`. Scoped secrets take the Prefect server's form
(`_core.names`) with the case kept:

| secret                                  | secret id (prefix "")           |
|-----------------------------------------|---------------------------------|
| `DB_PASSWORD`                           | `DB_PASSWORD`                   |
| `DB_PASSWORD`, project etl, domain prod | `scope--etl--prod--DB_PASSWORD` |
| `DB_PASSWORD`, project etl (domain: alike) | `scope--etl----DB_PASSWORD`  |
| `scope--x` (org-wide, rare)             | `scope------scope--x`           |

Projects and domains never hold `--`, so an id parses back unambiguously; an org-wide name
that starts with `scope--` takes the scoped form with neither, which no scoped secret has.
An id over 255 characters cannot exist: never asked for, refused on writes. Messages and
`place` name a secret by its resource name, `projects/<project>/secrets/<id>`.

| operation      | API call                                      | notes                          |
|----------------|-----------------------------------------------|--------------------------------|
| lookup         | accessSecretVersion `versions/latest`         | 404: MISSING; UTF-8 -> str,    |
| lookup_version | accessSecretVersion `versions/<n>`            | else bytes; dataCrc32c checked |
| versions       | listSecretVersions `state:ENABLED`            | numbers, oldest first          |
| write          | addSecretVersion; if 404, createSecret        | "replaced"/"created"; sent     |
|                | (automatic replication) and add it again      | with its CRC32C                |
| delete         | deleteSecret                                  | all versions; no soft delete   |
| names / check  | listSecrets (`name:<prefix>`) / one secret    |                                |

Failures are `SecretSourceError`s naming the store and the resource name, never a value or
a response body: access denied (403), credentials rejected (401: google-auth has already
refreshed them and repeated the request twice) or missing, throttled (429), unreachable,
too slow, a latest version disabled or destroyed, a checksum mismatch. Retries are
google-api-core's, with one `Retry` per call: transient failures only (429, 5xx,
connection errors, timeouts), at most `retries`, each attempt `timeout` seconds; never a
401 or 403, and never the SDK's default (503 retried for 60 s).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from importlib import import_module

from prefect_secrets._config.settings import Setting
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError, SettingsError, UnsupportedBySource
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import (
    SCOPED_BLOCK_PREFIX,
    is_valid_name,
    parse_block_name,
    validate_scope,
)
from prefect_secrets._sources.remote import MAX_BACKOFF, RemoteSource, deadline_of, require_extra
from prefect_secrets.sources import SecretKey, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from prefect_secrets._config.settings import Settings

__all__ = ["GcpSource", "crc32c", "key_of_id", "secret_id"]

MAX_ID = 255
MAX_PAYLOAD = 64 * 1024


def _parse_project(value: object) -> str:
    text = str(value).strip()
    if not all(c.isascii() and (c.isalnum() or c in "-.:") for c in text):
        raise ValueError("a GCP project id: letters, digits and '-' (or 'domain:project')")
    return text


def _parse_prefix(value: object) -> str:
    text = str(value)
    if not all(c.isascii() and (c.isalnum() or c in "_-") for c in text):
        raise ValueError("a prefix of secret ids: letters, digits, '_' and '-'")
    return text


def _parse_endpoint(value: object) -> str:
    return str(value).strip().rstrip("/")


def secret_id(key: SecretKey, prefix: str = "") -> str:
    """`<prefix><name>` org-wide, `<prefix>scope--<project>--<domain>--<name>` scoped."""
    name, project, domain = key
    if project is None and domain is None and not name.startswith(SCOPED_BLOCK_PREFIX):
        return prefix + name
    return f"{prefix}{SCOPED_BLOCK_PREFIX}{project or ''}--{domain or ''}--{name}"


def key_of_id(text: str, prefix: str = "", fold: Callable[[str], str] = str) -> SecretKey | None:
    """The key of an id made by `secret_id` (folded first, as Key Vault does); None if not."""
    text, prefix = fold(text), fold(prefix)
    rest = text[len(prefix) :]
    if not text.startswith(prefix) or not is_valid_name(rest):
        return None
    if not rest.startswith(SCOPED_BLOCK_PREFIX):
        return org_key(rest)
    name, project, domain = parse_block_name(rest)
    if not is_valid_name(name) or not (_is_scope(project) and _is_scope(domain)):
        return None
    if project is None and domain is None:  # the form of an org-wide `scope--...` name
        return org_key(name) if name.startswith(SCOPED_BLOCK_PREFIX) else None
    return SecretKey(name, project, domain)


def _is_scope(value: str | None) -> bool:
    try:
        return value is None or validate_scope(value, what="scope") == value
    except ValueError:
        return False


def crc32c(data: bytes) -> int:
    """CRC32C of `data`, as `dataCrc32c`. Pure Python: the gcp extra does not install
    google-crc32c, and secrets are small (20 us for 30 bytes, 15 ms for 64 KiB)."""
    if not _CRC_TABLE:
        for n in range(256):
            for _ in range(8):
                n = (n >> 1) ^ 0x82F63B78 if n & 1 else n >> 1
            _CRC_TABLE.append(n)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


_CRC_TABLE: list[int] = []


class GcpSource(RemoteSource):
    """GCP Secret Manager, through the official client (REST transport) and ADC."""

    kind = "gcp"
    title = "GCP Secret Manager"
    extra = "gcp"
    versioned = True
    setting_specs = (
        Setting("project", _parse_project, "", "GCP project id (default: ADC's project)"),
        Setting("prefix", _parse_prefix, "", "prepended to every secret id"),
        Setting("api_endpoint", _parse_endpoint, "", "for emulators/private endpoints"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], tuple[Any, str]] = {}

    # --- the client ----------------------------------------------------------------------

    def client(self, config: SourceConfig) -> tuple[Any, str]:
        """(SecretManagerServiceClient, project), built once per settings."""
        values = config.source_settings(self)
        key = (values["project"], values["api_endpoint"])
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._clients[key] = self._build(*key)
        return found

    def _build(self, project: str, endpoint: str) -> tuple[Any, str]:
        secretmanager = require_extra("google.cloud.secretmanager", self.extra, self.kind)
        auth = import_module("google.auth")
        try:
            credentials, adc_project = auth.default(
                scopes=["https://www.googleapis.com/auth/cloud-platform"]
            )
        except import_module("google.auth.exceptions").DefaultCredentialsError:
            raise SecretSourceError(
                f"{self.title}: no Application Default Credentials (run `gcloud auth "
                "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS)",
                source=self.kind,
            ) from None
        project = project or adc_project or ""
        if not project:
            raise SettingsError(
                "source 'gcp' needs a project and ADC names none: set [settings.gcp] project "
                "or PREFECT_SECRETS_GCP_PROJECT"
            )
        client = secretmanager.SecretManagerServiceClient(
            credentials=credentials,
            transport="rest",  # the only one that takes an http:// endpoint; no grpc needed
            client_options={"api_endpoint": endpoint} if endpoint else None,
        )
        return client, project

    def _call(
        self, what: str, config: SourceConfig, method: str, request: Any, pages: bool = False
    ) -> Any:
        """`client.<method>(request)` within `timeout`/`retries` (every page's items if
        `pages`); an SDK failure becomes our error, or a marker (`_NotFound`...)."""
        settings = config.settings
        client = self.client(config)[0]
        try:
            answer = getattr(client, method)(
                request=request, retry=_retry(settings), timeout=settings.timeout
            )
            return list(answer) if pages else answer
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes ours
            raise self._failure(what, exc, config) from None

    # --- names ---------------------------------------------------------------------------

    def store_name(self, key: SecretKey, config: SourceConfig) -> str:
        values = config.source_settings(self)
        project = values["project"] or self.client(config)[1]
        return f"projects/{project}/secrets/{secret_id(key, values['prefix'])}"

    def key_of(self, name: str, config: SourceConfig) -> SecretKey | None:
        return key_of_id(name.rpartition("/")[2], config.source_settings(self)["prefix"])

    # --- reads ---------------------------------------------------------------------------

    def fetch(self, name: str, config: SourceConfig) -> Any:
        return self._access(name, "latest", config)

    def fetch_version(self, name: str, version: str, config: SourceConfig) -> Any:
        if version != "latest" and not (version.isascii() and version.isdigit()):
            raise self.error(name, f"no version {version[:20]!r}: versions are numbers or 'latest'")
        return self._access(name, version if version == "latest" else str(int(version)), config)

    def _access(self, name: str, version: str, config: SourceConfig) -> Any:
        if len(name.rpartition("/")[2]) > MAX_ID:
            return MISSING  # no such id can exist
        request = {"name": f"{name}/versions/{version}"}
        try:
            payload = self._call(name, config, "access_secret_version", request).payload
        except _NotFound:
            return MISSING
        except _NotEnabled:
            which = "its latest version" if version == "latest" else f"version {version}"
            reason = f"{which} is disabled or destroyed: enable it, or add a new version"
            raise self.error(name, reason) from None
        data = bytes(payload.data)
        # The client does not check the checksum the server sends: a mismatch means data
        # corrupted on the way, which must not be handed out.
        if "data_crc32c" in payload and crc32c(data) != payload.data_crc32c:
            raise self.error(name, "the payload does not match its dataCrc32c checksum")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data

    def fetch_many(self, names: Sequence[str], config: SourceConfig) -> dict[str, Any]:
        """The API reads one secret per request: up to 8 at once."""
        with ThreadPoolExecutor(min(8, len(names) or 1)) as pool:
            values = list(pool.map(lambda name: self.fetch(name, config), names))
        return {n: v for n, v in zip(names, values, strict=True) if v is not MISSING}

    def list_version_history(self, name: str, config: SourceConfig) -> list[tuple[str, Any]]:
        request = {"parent": name, "filter": "state:ENABLED"}
        try:
            versions = self._call(name, config, "list_secret_versions", request, pages=True)
        except _NotFound:
            return []
        numbered = sorted((int(v.name.rpartition("/")[2]), v.create_time) for v in versions)
        return [(str(number), created) for number, created in numbered]

    def list_names(self, config: SourceConfig) -> Iterable[str]:
        prefix = config.source_settings(self)["prefix"]
        parent = f"projects/{self.client(config)[1]}"
        request = {"parent": parent, "page_size": 250, "filter": f"name:{prefix}" if prefix else ""}
        secrets = self._call(f"{parent}/secrets", config, "list_secrets", request, pages=True)
        ids = (secret.name.rpartition("/")[2] for secret in secrets)
        return [f"{parent}/secrets/{id_}" for id_ in ids if id_.startswith(prefix)]

    def check(self, config: SourceConfig) -> str:
        parent = f"projects/{self.client(config)[1]}"
        self._call(f"{parent}/secrets", config, "list_secrets", {"parent": parent, "page_size": 1})
        return f"listed the secrets of project {parent[9:]!r}"

    # --- writes --------------------------------------------------------------------------

    def store(self, name: str, value: Any, config: SourceConfig) -> str:
        parent, _, id_ = name.rpartition("/secrets/")
        if len(id_) > MAX_ID:
            raise UnsupportedBySource(
                f"{self.title} cannot hold '{id_[:40]}...': ids are at most {MAX_ID} characters"
                f" (this one has {len(id_)}, with prefix and scope)"
            )
        data = _payload(value)
        if len(data) > MAX_PAYLOAD:
            raise UnstorableValueError(
                f"{self.title} holds at most 64 KiB per version (this value: {len(data)} bytes)"
            )
        add = {"parent": name, "payload": {"data": data, "data_crc32c": crc32c(data)}}
        try:  # a version first: secretVersionAdder on an existing secret is enough
            self._call(name, config, "add_secret_version", add)
            return "replaced"
        except _NotFound:
            pass
        automatic: dict[str, Any] = {"replication": {"automatic": {}}}
        create = {"parent": parent, "secret_id": id_, "secret": automatic}
        with suppress(_Exists):  # another writer made it meanwhile
            self._call(name, config, "create_secret", create)
        self._call(name, config, "add_secret_version", add)
        return "created"

    def remove(self, name: str, config: SourceConfig) -> bool:
        try:
            self._call(name, config, "delete_secret", {"name": name})
        except _NotFound:
            return False
        return True

    # --- failures ------------------------------------------------------------------------

    def _failure(self, name: str, exc: BaseException, config: SourceConfig) -> Exception:
        """What an SDK exception means, as a marker or our error (never the SDK's text)."""
        if isinstance(exc, (SecretSourceError, SettingsError)):
            return exc
        errors = import_module("google.api_core.exceptions")
        auth_errors = import_module("google.auth.exceptions")
        if isinstance(exc, errors.RetryError) and exc.cause is not None:
            exc = exc.cause
        status = _status_of(exc)
        if isinstance(exc, errors.NotFound):
            return _NotFound()
        if status == "ALREADY_EXISTS":
            return _Exists()
        if status == "FAILED_PRECONDITION":
            return _NotEnabled()
        settings = config.settings
        attempts = f"{settings.retries + 1} attempt{'s' if settings.retries else ''}"
        if isinstance(exc, (errors.Unauthorized, auth_errors.RefreshError)):
            with self._lock:  # the next lookup asks ADC afresh
                self._clients.clear()
            reason = "the credentials were rejected (401 UNAUTHENTICATED: expired or revoked)"
        elif isinstance(exc, errors.Forbidden):
            reason = "access denied (403 PERMISSION_DENIED): the credentials lack a role on it"
        elif isinstance(exc, errors.TooManyRequests):
            reason = f"throttled (429 RESOURCE_EXHAUSTED), {attempts}"
        elif isinstance(exc, auth_errors.GoogleAuthError):
            reason = f"could not get credentials ({type(exc).__name__})"
        elif isinstance(exc, errors.GoogleAPICallError):
            reason = f"failed (HTTP {exc.code} {status or ''}), {attempts}".replace(" )", ")")
        elif "Timeout" in type(exc).__name__:
            reason = f"no answer within {settings.timeout:g} s, {attempts}"
        elif isinstance(exc, OSError):  # requests' ConnectionError: refused, DNS, TLS
            reason = f"unreachable ({type(exc).__name__}), {attempts}"
        else:
            reason = f"failed ({type(exc).__name__})"
        return self.error(name, reason)


# What `_failure` makes of the answers that callers handle: 404 (no such secret or
# version), 409 ALREADY_EXISTS (on create), 400 FAILED_PRECONDITION (a version not enabled).
class _NotFound(Exception): ...


class _Exists(Exception): ...


class _NotEnabled(Exception): ...


def _status_of(exc: BaseException) -> str | None:
    """The google.rpc.Code name of a REST error (`error.status`), if its body has one."""
    try:
        status = getattr(exc, "response", None).json()["error"]["status"]  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - no Google error body
        return None
    return status if isinstance(status, str) and status.isupper() else None


def _payload(value: Any) -> bytes:
    """Text as UTF-8, bytes as they are, anything else as JSON (the caller decodes it)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _retry(settings: Settings) -> Any:
    """A google-api-core `Retry` of at most `retries` retries, of transient failures only."""
    errors = import_module("google.api_core.exceptions")
    transient = (
        errors.TooManyRequests,
        errors.InternalServerError,
        errors.BadGateway,
        errors.ServiceUnavailable,
        errors.GatewayTimeout,
        OSError,  # requests' ConnectionError and Timeout
    )
    left = [settings.retries]

    def retryable(exc: BaseException) -> bool:
        if not isinstance(exc, transient) or left[0] <= 0:
            return False
        left[0] -= 1
        return True

    # Its own deadline is a backstop: RemoteSource stops waiting at the same moment.
    return import_module("google.api_core.retry").Retry(
        predicate=retryable,
        initial=0.5,
        maximum=MAX_BACKOFF,
        multiplier=2.0,
        timeout=deadline_of(settings),
    )
