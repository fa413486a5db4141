"""Azure Key Vault (`kind = "azure"`): the secrets of one vault, read with
`DefaultAzureCredential` (env vars AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET,
workload identity, managed identity, `az login`, ...).

| setting     | env var                           | default                                |
|-------------|-----------------------------------|----------------------------------------|
| `vault_url` | `PREFECT_SECRETS_AZURE_VAULT_URL` | (required) `https://<vault>.vault.azure.net` |
| `prefix`    | `PREFECT_SECRETS_AZURE_PREFIX`    | "" (e.g. "prefect-")                   |

Names. Key Vault allows letters, digits and `-` (at most 127) and ignores case, so names
map as Prefect's block names do (`_core.names`): lowercased, `_` -> `-`, after the prefix.

| secret                                  | secret name in the vault (prefix "") |
|-----------------------------------------|--------------------------------------|
| `DB_PASSWORD` (or `db_password`, ...)   | `db-password`                        |
| `DB_PASSWORD`, project etl, domain prod | `scope--etl--prod--db-password`      |
| `DB_PASSWORD`, project etl / domain prod| `scope--etl----db-password` /        |
|                                         | `scope----prod--db-password`         |
| `SCOPE__X` (org-wide, rare)             | `scope------scope--x`                |

`API_KEY`, `api_key` and `api-key` are one secret there (`canonical_name`), and `ls` lists
it as `api-key`. The scoped form parses back as on the server; an org-wide name whose
folded form starts with `scope--` takes the scoped form with no project and no domain.
A name over 127 characters cannot exist: never asked for, refused on writes. Messages and
`place` name a secret by its id, `<vault_url>/secrets/<name>`.

| operation      | API call                                  | notes                            |
|----------------|-------------------------------------------|----------------------------------|
| lookup         | getSecret (latest) / getSecret(version)   | 404: MISSING                     |
| versions       | getSecretVersions, enabled ones           | version ids, oldest first        |
| write          | getSecretVersions (one), then setSecret   | "created" / "replaced"; a new    |
|                |                                           | version each time; text only     |
| delete         | deleteSecret: soft delete, never purged   | see below                        |
| names / check  | getSecrets, paged (certificate-backed     |                                  |
|                | secrets skipped) / one page of one        |                                  |

Delete and re-create. `delete` soft-deletes (the vault keeps the secret, every version,
for its retention period, 7-90 days), and never purges: purging is irreversible and needs
a permission most roles lack. Writing a name that is soft-deleted is refused, saying so:
recover it (`az keyvault secret recover`), then set it, or purge it
(`az keyvault secret purge`) to reuse the name afresh. It is not recovered silently: that
would bring the deleted value back as the latest, when it may have been deleted because
it leaked.

Failures are `SecretSourceError`s naming Azure Key Vault and the secret's id (so the
vault), never a value or a response body: access denied or a disabled version (403),
credentials rejected or missing (401; the next lookup builds new ones), throttled (429),
unreachable, too slow. Retries are azure-core's `RetryPolicy`: `retry_total = retries`,
each attempt's connect and read `timeout` seconds, pauses of at most `MAX_BACKOFF`;
401 and 403 are never retried.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

from prefect_secrets._config.settings import Setting
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError, SettingsError, UnsupportedBySource
from prefect_secrets._core.missing import MISSING
from prefect_secrets._sources.gcp import key_of_id, secret_id
from prefect_secrets._sources.remote import MAX_BACKOFF, RemoteSource, deadline_of, require_extra
from prefect_secrets.sources import SecretKey, SourceConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

__all__ = ["AzureSource", "vault_name"]

MAX_NAME = 127
MAX_VALUE = 25 * 1024  # bytes of UTF-8


def _parse_vault_url(value: object) -> str:
    text = str(value).strip().rstrip("/")
    if text and (not text.startswith("https://") or "/" in text[8:] or "?" in text):
        raise ValueError("the vault's URL, like https://my-vault.vault.azure.net")
    return text


def _parse_prefix(value: object) -> str:
    text = str(value)
    if not all(c.isascii() and (c.isalnum() or c == "-") for c in text):
        raise ValueError("a prefix of Key Vault names: letters, digits and '-'")
    return text.lower()


def _fold(name: str) -> str:
    return name.lower().replace("_", "-")


def vault_name(vault_url: str) -> str:
    """`my-vault` of https://my-vault.vault.azure.net (for the `az` commands we suggest)."""
    return vault_url.partition("://")[2].split(".")[0].split(":")[0]


class AzureSource(RemoteSource):
    """Azure Key Vault secrets, through azure-keyvault-secrets and azure-identity."""

    kind = "azure"
    title = "Azure Key Vault"
    extra = "azure"
    versioned = True
    setting_specs = (
        Setting("vault_url", _parse_vault_url, "", "https://<vault>.vault.azure.net"),
        Setting("prefix", _parse_prefix, "", "prepended to every secret name"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, float, int], Any] = {}

    # --- the client ----------------------------------------------------------------------

    def client(self, config: SourceConfig) -> Any:
        """A SecretClient for the vault, built once per vault, timeout and retries."""
        settings = config.settings
        key = (self._vault(config), settings.timeout, settings.retries)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                secrets = require_extra("azure.keyvault.secrets", self.extra, self.kind)
                identity = require_extra("azure.identity", self.extra, self.kind)
                client = self._clients[key] = secrets.SecretClient(
                    key[0],
                    identity.DefaultAzureCredential(),
                    retry_total=settings.retries,
                    retry_backoff_factor=0.5,
                    retry_backoff_max=MAX_BACKOFF,
                    timeout=deadline_of(settings),  # the RetryPolicy's total: a backstop
                    connection_timeout=settings.timeout,
                    read_timeout=settings.timeout,
                )
        return client

    def _vault(self, config: SourceConfig) -> str:
        vault_url: str = config.source_settings(self)["vault_url"]
        if not vault_url:
            raise SettingsError(
                "source 'azure' needs the vault's URL: set [settings.azure] vault_url = "
                '"https://<vault>.vault.azure.net" or PREFECT_SECRETS_AZURE_VAULT_URL'
            )
        return vault_url

    def _call(self, name: str, config: SourceConfig, work: Callable[[Any], Any]) -> Any:
        """`work(client)`; an SDK failure becomes our error, or one of the markers below."""
        client = self.client(config)
        try:
            return work(client)
        except Exception as exc:  # noqa: BLE001 - every SDK failure becomes ours
            raise self._failure(name, exc, config) from None

    # --- names ---------------------------------------------------------------------------

    def store_name(self, key: SecretKey, config: SourceConfig) -> str:
        prefix = config.source_settings(self)["prefix"]
        folded = SecretKey(_fold(key.name), key.project, key.domain)
        return f"{self._vault(config)}/secrets/{secret_id(folded, prefix)}"

    def key_of(self, name: str, config: SourceConfig) -> SecretKey | None:
        return key_of_id(name.rpartition("/")[2], config.source_settings(self)["prefix"], _fold)

    def canonical_name(self, name: str) -> str:
        return _fold(name)

    # --- reads ---------------------------------------------------------------------------

    def fetch(self, name: str, config: SourceConfig) -> Any:
        return self._get(name, "", config)

    def fetch_version(self, name: str, version: str, config: SourceConfig) -> Any:
        if version == "latest":
            version = ""
        elif not (version.isascii() and version.isalnum()):
            raise self.error(name, f"no version {version[:20]!r}: versions are 32 hex digits")
        return self._get(name, version, config)

    def _get(self, name: str, version: str, config: SourceConfig) -> Any:
        secret_name = name.rpartition("/")[2]
        if len(secret_name) > MAX_NAME:
            return MISSING  # no such name can exist
        try:
            secret = self._call(name, config, lambda c: c.get_secret(secret_name, version))
        except _NotFound:
            return MISSING
        except _Disabled:
            which = f"version {version}" if version else "its latest version"
            raise self.error(name, f"{which} is disabled (403 Forbidden, SecretDisabled)") from None
        return secret.value if secret.value is not None else ""

    def fetch_many(self, names: Sequence[str], config: SourceConfig) -> dict[str, Any]:
        """The API reads one secret per request: up to 8 at once."""
        with ThreadPoolExecutor(min(8, len(names) or 1)) as pool:
            values = list(pool.map(lambda name: self.fetch(name, config), names))
        return {n: v for n, v in zip(names, values, strict=True) if v is not MISSING}

    def list_version_history(self, name: str, config: SourceConfig) -> list[tuple[str, Any]]:
        secret_name = name.rpartition("/")[2]
        try:
            found = self._call(
                name, config, lambda c: list(c.list_properties_of_secret_versions(secret_name))
            )
        except _NotFound:
            return []
        enabled = sorted((p for p in found if p.enabled), key=lambda p: p.created_on)
        return [(str(p.version), p.created_on) for p in enabled]

    def list_names(self, config: SourceConfig) -> Iterable[str]:
        vault, prefix = self._vault(config), config.source_settings(self)["prefix"]
        listed = self._call(f"{vault}/secrets", config, _all_secrets)
        names = (p.name for p in listed if not p.managed)  # managed: a certificate's
        return [f"{vault}/secrets/{n}" for n in names if n.lower().startswith(prefix)]

    def check(self, config: SourceConfig) -> str:
        vault = self._vault(config)
        self._call(f"{vault}/secrets", config, _one_secret)
        return f"listed the secrets of vault {vault}"

    # --- writes --------------------------------------------------------------------------

    def store(self, name: str, value: Any, config: SourceConfig) -> str:
        secret_name = name.rpartition("/")[2]
        if len(secret_name) > MAX_NAME:
            raise UnsupportedBySource(
                f"{self.title} cannot hold '{secret_name[:40]}...': names are at most "
                f"{MAX_NAME} characters (this one has {len(secret_name)}, with prefix and scope)"
            )
        text = _text(value)
        if len(text.encode("utf-8")) > MAX_VALUE:
            raise UnstorableValueError(f"{self.title} holds at most 25 KiB per secret value")
        try:
            self._call(name, config, lambda c: _one_version(c, secret_name))
            outcome = "replaced"
        except _NotFound:
            outcome = "created"
        try:
            self._call(name, config, lambda c: c.set_secret(secret_name, text))
        except _Deleted:
            vault = f"--vault-name {vault_name(self._vault(config))} --name {secret_name}"
            raise self.error(
                name,
                "it is deleted but recoverable (soft delete), so its name cannot be reused "
                f"yet; nothing was saved. Recover it (az keyvault secret recover {vault}) and "
                f"set it again, or purge it for good (az keyvault secret purge {vault})",
            ) from None
        return outcome

    def remove(self, name: str, config: SourceConfig) -> bool:
        secret_name = name.rpartition("/")[2]
        try:
            # The DELETE itself soft-deletes; the poller only waits until the deleted
            # secret can be recovered or purged, which we never do: not waited for.
            self._call(name, config, lambda c: c.begin_delete_secret(secret_name))
        except _NotFound:
            return False
        return True

    # --- failures ------------------------------------------------------------------------

    def _failure(self, name: str, exc: BaseException, config: SourceConfig) -> Exception:
        """What an SDK exception means, as a marker or our error (never the SDK's text)."""
        if isinstance(exc, (SecretSourceError, SettingsError)):
            return exc
        errors = import_module("azure.core.exceptions")
        status = getattr(exc, "status_code", None)
        code, inner = _codes(exc)
        if isinstance(exc, errors.ResourceNotFoundError):
            return _NotFound()
        if isinstance(exc, errors.ResourceExistsError):
            return _Deleted()
        if status == 403 and inner == "SecretDisabled":
            return _Disabled()
        settings = config.settings
        attempts = f"{settings.retries + 1} attempt{'s' if settings.retries else ''}"
        if isinstance(exc, errors.ClientAuthenticationError):
            with self._lock:  # a credential serves its cached token: build new ones
                self._clients.clear()
            if status == 401:
                reason = "the credentials were rejected (401 Unauthorized: expired or revoked)"
            else:  # one error for both: DefaultAzureCredential raises the same for either
                reason = (
                    "could not get a token: DefaultAzureCredential found no credentials, or "
                    "Microsoft Entra ID refused them (the log 'azure.identity' names each tried)"
                )
        elif status == 403:
            reason = f"access denied (403 Forbidden, {inner or code}): the identity lacks access"
        elif status == 429:
            reason = f"throttled (429 Throttled), {attempts}"
        elif isinstance(exc, errors.HttpResponseError) and status is not None:
            reason = f"failed (HTTP {status} {code or ''}), {attempts}".replace(" )", ")")
        elif isinstance(exc, errors.ServiceResponseError):  # a read timed out or broke off
            reason = f"no answer within {settings.timeout:g} s, {attempts}"
        elif isinstance(exc, errors.ServiceRequestError):  # refused, DNS, TLS
            reason = f"unreachable, {attempts}"
        else:
            reason = f"failed ({type(exc).__name__})"
        return self.error(name, reason)


class _NotFound(Exception):
    """404: no such secret, or no such version."""


class _Deleted(Exception):
    """409 Conflict on set: the name is soft-deleted."""


class _Disabled(Exception):
    """403 SecretDisabled: the version asked for is disabled."""


def _codes(exc: BaseException) -> tuple[str | None, str | None]:
    """(error code, inner error code) of a Key Vault error, e.g. (Forbidden, AccessDenied)."""
    error = getattr(exc, "error", None)
    inner = getattr(error, "innererror", None)
    code = getattr(error, "code", None)
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    return (
        code if isinstance(code, str) else None,
        inner_code if isinstance(inner_code, str) else None,
    )


def _all_secrets(client: Any) -> list[Any]:
    return list(client.list_properties_of_secrets(max_page_size=25))


def _one_secret(client: Any) -> Any:
    return next(iter(client.list_properties_of_secrets(max_page_size=1)), None)


def _one_version(client: Any, secret_name: str) -> Any:
    # A listing, not a read: whether it exists, without fetching a value.
    return next(iter(client.list_properties_of_secret_versions(secret_name, max_page_size=1)), None)


def _text(value: Any) -> str:
    """Key Vault stores text: bytes must be UTF-8; anything else is stored as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise UnstorableValueError(
                "Azure Key Vault stores text: encode a binary value (base64) first"
            ) from None
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
