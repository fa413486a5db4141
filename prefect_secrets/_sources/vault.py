"""HashiCorp Vault (or OpenBao) KV version 2, with hvac: `sources = [..., "vault", ...]`.

| secret (name, project, domain)  | KV v2 path (mount `secret`, path `prefect/`)   |
|---------------------------------|------------------------------------------------|
| `DB_PASSWORD`                   | `secret/prefect/DB_PASSWORD`                   |
| `DB_PASSWORD`, etl, prod        | `secret/prefect/etl/prod/DB_PASSWORD`          |
| `DB_PASSWORD`, etl, - (-, prod) | `secret/prefect/etl/_/DB_PASSWORD` (`_/prod/`) |

Names keep their case. `_` stands for an absent project or domain (it is never a
scope name), and names hold no `/`: a path parses back by its number of segments.
`ls` LISTs the prefix and its scope folders only (other paths are not ours).

Values: KV data `{"value": "s3cret"}` (that one key) gives `"s3cret"` (JSON text in
it is decoded, as everywhere); any other keys give the whole dict. Writes store a
dict as it is and anything else as `{"value": ...}`, so what is written reads back.

| Vault's env var                                       | setting (wins)   |
|-------------------------------------------------------|------------------|
| `VAULT_ADDR` (required)                               | `addr`           |
| `VAULT_TOKEN`, else `~/.vault-token` (`vault login`)  |                  |
| `VAULT_NAMESPACE`                                     | `namespace`      |
| `VAULT_ROLE_ID`, `VAULT_SECRET_ID`: AppRole           | `role_id`, `secret_id_name` |
| `VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_SKIP_VERIFY`   |                  |

AppRole (a role id is set) wins over a token; `secret_id_name` names a secret holding
the secret id, looked up org-wide in the other active sources (a mounted file, the
keychain). Its token is renewed in the last third of its TTL, and the source logs in
again when that fails. A 403 is never retried as it is: under AppRole the source logs
in once more (the token may have been revoked) and asks once more.

Versions are Vault's numbers; `versions()` lists those neither deleted nor destroyed.
A latest version deleted (`vault kv delete`) or destroyed is MISSING: the secret was
meant to go, and an older version must not come back in its place. `delete` removes
the metadata and every version (`vault kv metadata delete`; the CLI asks first): a
soft delete would leave the name in `ls` and its old versions pinnable.

Errors are `SecretSourceError`s naming Vault, the path and the address (a 404 is
MISSING): our reason and the status, never Vault's text. Retries (timeouts, 429, 5xx)
are urllib3's; the base class's deadline bounds them all.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv
from prefect_secrets._core.names import is_valid_name, validate_scope
from prefect_secrets._sources.remote import MAX_BACKOFF, RemoteSource, require_extra
from prefect_secrets.sources import (
    MISSING,
    SecretKey,
    SecretSourceError,
    Setting,
    SourceConfig,
    UnsupportedBySource,
    org_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["NO_SCOPE", "VaultSource"]

#: The path segment of an absent project or domain (never a scope name).
NO_SCOPE = "_"

#: hvac's exception -> our reason (Vault's own texts are not repeated: see above).
_REASONS = {
    "InvalidRequest": "rejected as invalid (400)",
    "Unauthorized": "unauthorized (401)",
    "Forbidden": "permission denied (403): the token's policies do not allow this path, "
    "or the token expired or was revoked",
    "RateLimitExceeded": "rate limited (429)",
    "InternalServerError": "internal server error (500)",
    "BadGateway": "bad gateway (502)",
    "VaultDown": "sealed or unavailable (503)",
}


_NO_ADDRESS = "set VAULT_ADDR (or the setting addr)"
_NO_TOKEN = "set VAULT_TOKEN (or run `vault login`), or VAULT_ROLE_ID for AppRole"

#: urllib3's retries: transient statuses, of reads only (a write that timed out may have
#: been applied; a failed connection is retried for every method).
_RETRY: dict[str, Any] = {
    "status_forcelist": (429, 500, 502, 503, 504),
    "allowed_methods": frozenset({"GET", "LIST"}),
    "raise_on_status": False,  # hvac raises its own exception for the last answer
    "backoff_factor": 0.5,
    "backoff_max": MAX_BACKOFF,
}


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value.strip()


def _mount(value: object) -> str:
    mount = _text(value).strip("/")
    if not mount or "//" in mount:
        raise ValueError("expected a mount path like 'secret'")
    return mount


def _prefix(value: object) -> str:
    prefix = _text(value).strip("/")
    if "//" in prefix or {".", ".."} & set(prefix.split("/")):
        raise ValueError("expected a path like 'prefect/', or '' for the mount's root")
    return f"{prefix}/" if prefix else ""


def _is_scope(part: str) -> bool:
    try:
        validate_scope(part, what="scope")
    except ValueError:
        return False
    return True


def relative_path(key: SecretKey) -> str:
    """The path of `key` under the prefix: `NAME` or `<project>/<domain>/NAME`."""
    name, project, domain = key
    if project is None and domain is None:
        return name
    return f"{project or NO_SCOPE}/{domain or NO_SCOPE}/{name}"


def key_of_path(path: str) -> SecretKey | None:
    """The key of a path under the prefix (the reverse of `relative_path`), or None."""
    parts = path.split("/")
    if len(parts) == 1:
        return org_key(path) if is_valid_name(path) else None
    scopes = [None if part == NO_SCOPE else part for part in parts[:-1]]
    if len(parts) != 3 or not is_valid_name(parts[2]) or scopes == [None, None]:
        return None
    if all(part is None or _is_scope(part) for part in scopes):
        return SecretKey(parts[2], *scopes)
    return None


def _network_reason(exc: Exception, config: SourceConfig) -> str:
    """Why no answer came (urllib3's last reason), after every attempt."""
    cause = type(getattr(exc.args[0] if exc.args else None, "reason", exc)).__name__
    attempts, timeout = config.settings.retries + 1, config.settings.timeout
    if "Timeout" in cause or "Timeout" in type(exc).__name__:
        return f"no answer within {timeout:g} s, {attempts} attempt(s)"
    return f"unreachable ({cause}), {attempts} attempt(s)"


class _Target(NamedTuple):
    """Where and as whom: read from the settings and env vars at each call."""

    addr: str
    namespace: str
    mount: str
    prefix: str
    token: int  # hash of VAULT_TOKEN and HOME (~/.vault-token): never the token itself
    role_id: str
    secret_id_name: str
    approle_mount: str


class _Session:
    """One hvac client for one target, and its AppRole token's lifetime."""

    def __init__(self, client: Any, approle: bool) -> None:
        self.client, self.approle, self.lock = client, approle, threading.Lock()
        self.renew_after = 0.0  # monotonic; 0: log in before the next request
        self.renewable = False

    def took(self, response: Any) -> None:
        ttl = float(response["auth"].get("lease_duration") or 0)
        self.renew_after = time.monotonic() + ttl * 2 / 3 if ttl else float("inf")
        self.renewable = bool(response["auth"].get("renewable"))


class VaultSource(RemoteSource):
    """Secrets in a Vault KV v2 mount, under a path prefix (see the module docstring)."""

    kind = "vault"
    title = "Vault"
    extra = "vault"
    versioned = True
    setting_specs = (
        Setting("addr", _text, "", "the server's URL (default: env VAULT_ADDR)"),
        Setting("namespace", _text, "", "the namespace (default: env VAULT_NAMESPACE)"),
        Setting("mount", _mount, "secret", "the KV version 2 mount"),
        Setting("path", _prefix, "prefect/", "the path prefix of this library's secrets"),
        Setting("role_id", _text, "", "AppRole role id (default: env VAULT_ROLE_ID)"),
        Setting("secret_id_name", _text, "", "a secret holding the AppRole secret id"),
        Setting("approle_mount", _mount, "approle", "where the AppRole auth method is"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._sessions: dict[tuple[Any, ...], _Session] = {}
        self._identity: _Target | None = None
        self._where = ""

    def target(self, config: SourceConfig) -> _Target:
        """The server, mount and credentials in force; cached answers are dropped when
        they change (the answer cache knows names only)."""
        settings = config.source_settings(self)
        found = _Target(
            addr=(settings["addr"] or getenv("VAULT_ADDR") or "").rstrip("/"),
            namespace=settings["namespace"] or getenv("VAULT_NAMESPACE") or "",
            mount=settings["mount"],
            prefix=settings["path"],
            token=hash((getenv("VAULT_TOKEN"), getenv("HOME"))),
            role_id=settings["role_id"] or getenv("VAULT_ROLE_ID") or "",
            secret_id_name=settings["secret_id_name"],
            approle_mount=settings["approle_mount"],
        )
        if found != self._identity:
            self.invalidate()
            self._identity = found
        self._where = f"at {found.addr or '(no address)'}"
        return found

    def client(self, target: _Target, config: SourceConfig) -> _Session:
        """The hvac client for `target` (one per target, shared by threads)."""
        settings = config.settings
        key = (*target, settings.timeout, settings.retries)
        session = self._sessions.get(key)
        if session is not None:
            return session
        hvac = require_extra("hvac", self.extra, self.kind)
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        if not target.addr:
            raise SecretSourceError(f"Vault: no address: {_NO_ADDRESS}", source=self.kind)
        retry = Retry(settings.retries, **_RETRY)
        http = requests.Session()
        http.mount("http://", HTTPAdapter(max_retries=retry))
        http.mount("https://", HTTPAdapter(max_retries=retry))
        skip_verify = (getenv("VAULT_SKIP_VERIFY") or "").lower() in ("1", "true", "yes")
        verify = False if skip_verify else getenv("VAULT_CACERT") or getenv("VAULT_CAPATH") or True
        client = hvac.Client(  # no token given: VAULT_TOKEN, else ~/.vault-token (`vault login`)
            url=target.addr,
            namespace=target.namespace or None,
            verify=verify,
            timeout=settings.timeout,
            session=http,
        )
        session = _Session(client, approle=bool(target.role_id))
        if not session.approle and not client.token:
            raise SecretSourceError(f"Vault {target.addr}: no token: {_NO_TOKEN}", source=self.kind)
        if len(self._sessions) >= 8:
            self._sessions.clear()  # configurations that came and went
        return self._sessions.setdefault(key, session)  # atomic: one client per target

    def store_name(self, key: SecretKey, config: SourceConfig) -> str:
        target = self.target(config)
        return f"{target.mount}/{target.prefix}{relative_path(key)}"

    def key_of(self, name: str, config: SourceConfig) -> SecretKey | None:
        target = self.target(config)
        root = f"{target.mount}/{target.prefix}"
        return key_of_path(name[len(root) :]) if name.startswith(root) else None

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        target = self.target(config)
        return f"Vault {target.addr or '(no VAULT_ADDR)'} secret '{self.store_name(key, config)}'"

    def error(self, name: str, reason: str) -> SecretSourceError:
        return super().error(name, f"{reason} ({self._where})" if self._where else reason)

    # --- the store -----------------------------------------------------------------------

    def fetch(self, name: str, config: SourceConfig) -> Any:
        return self._read(name, None, config)

    def fetch_many(self, names: Sequence[str], config: SourceConfig) -> dict[str, Any]:
        # Vault has no batch read: up to 8 reads at once, each its own request.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max(1, min(8, len(names)))) as pool:
            values = list(pool.map(lambda name: self.fetch(name, config), names))
        return {name: v for name, v in zip(names, values, strict=True) if v is not MISSING}

    def fetch_version(self, name: str, version: str, config: SourceConfig) -> Any:
        if not (version.isascii() and version.isdigit() and int(version) > 0):
            raise UnsupportedBySource(f"Vault versions are whole numbers from 1, not {version!r}")
        return self._read(name, int(version), config)

    def _kv(self, name: str, config: SourceConfig, method: str, **kwargs: Any) -> Any:
        """KV v2 `method` for store name `name`: its answer, MISSING on 404, else an error."""
        mount = self.target(config).mount
        kwargs.update(path=name[len(mount) + 1 :], mount_point=mount)
        return self._call(name, config, lambda c: getattr(c.secrets.kv.v2, method)(**kwargs))

    def _read(self, name: str, version: int | None, config: SourceConfig) -> Any:
        read = "read_secret_version"
        response = self._kv(name, config, read, version=version, raise_on_deleted_version=True)
        data = MISSING if response is MISSING else response["data"]["data"]
        return data["value"] if isinstance(data, dict) and list(data) == ["value"] else data

    def store(self, name: str, value: Any, config: SourceConfig) -> str:
        data = value if isinstance(value, dict) else {"value": value}
        response = self._kv(name, config, "create_or_update_secret", secret=data)
        # Version 1: the path had no version before (a new secret, or one deleted whole).
        return "created" if response["data"]["version"] == 1 else "replaced"

    def remove(self, name: str, config: SourceConfig) -> bool:
        if self._kv(name, config, "read_secret_metadata") is MISSING:
            return False
        self._kv(name, config, "delete_metadata_and_all_versions")
        return True

    def list_version_history(self, name: str, config: SourceConfig) -> list[tuple[str, Any]]:
        metadata = self._kv(name, config, "read_secret_metadata")
        versions = {} if metadata is MISSING else metadata["data"]["versions"]
        live = [v for v, m in versions.items() if not (m["deletion_time"] or m["destroyed"])]
        return [(v, versions[v].get("created_time")) for v in sorted(live, key=int)]

    def list_names(self, config: SourceConfig) -> list[str]:
        target = self.target(config)
        root = f"{target.mount}/{target.prefix}"
        names: list[str] = []

        def walk(folder: str, depth: int) -> None:
            listing = self._kv(f"{root}{folder}", config, "list_secrets")
            for entry in [] if listing is MISSING else listing["data"]["keys"]:
                if not entry.endswith("/"):
                    names.append(f"{root}{folder}{entry}")
                elif depth < 2 and (entry[:-1] == NO_SCOPE or _is_scope(entry[:-1])):
                    walk(f"{folder}{entry}", depth + 1)  # only scope folders are ours

        walk("", 0)
        return names

    def check(self, config: SourceConfig) -> str:
        target = self.target(config)
        root = f"{target.mount}/{target.prefix}"
        # What `vault kv get` asks first: any token with a capability on the mount may.
        ui = f"/v1/sys/internal/ui/mounts/{target.mount}"
        mount = self._call(root, config, lambda c: c.adapter.get(ui))
        data = {} if mount is MISSING else mount.get("data") or {}
        kv_version = str((data.get("options") or {}).get("version", ""))
        if data.get("type") != "kv" or kv_version != "2":
            raise self.error(root, f"mount '{target.mount}' is not a KV version 2 mount")
        count = len(self.list_names(config))
        return f"KV v2 mount '{target.mount}' {self._where}: {count} secret(s) in {root}"

    # --- requests, errors, authentication -------------------------------------------------

    def _call(self, name: str, config: SourceConfig, call: Callable[[Any], Any]) -> Any:
        """`call(hvac_client)` with a valid token: its answer, MISSING on 404, else an error."""
        session = self.client(self.target(config), config)
        exceptions = require_extra("hvac.exceptions", self.extra, self.kind)
        import requests

        for attempt in (1, 2):
            try:
                self._authenticate(name, session, config)
                return call(session.client)
            except exceptions.InvalidPath:
                return MISSING
            except exceptions.Forbidden:
                if session.approle and attempt == 1:
                    session.renew_after = 0.0  # a revoked token: log in again, ask once more
                    continue
                raise self.error(name, _REASONS["Forbidden"]) from None
            except exceptions.VaultError as exc:
                reason = _REASONS.get(type(exc).__name__, f"failed ({type(exc).__name__})")
                raise self.error(name, reason) from None
            except requests.exceptions.SSLError:
                raise self.error(name, "TLS failed (see VAULT_CACERT)") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                raise self.error(name, _network_reason(exc, config)) from None
            except requests.exceptions.RequestException as exc:
                raise self.error(name, f"request failed ({type(exc).__name__})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _authenticate(self, name: str, session: _Session, config: SourceConfig) -> None:
        """AppRole: renew the token in the last third of its TTL; log in when that fails,
        and after a 403 (`renew_after` 0)."""
        if not session.approle or time.monotonic() < session.renew_after:
            return
        exceptions = require_extra("hvac.exceptions", self.extra, self.kind)
        auth = session.client.auth
        with session.lock:
            if time.monotonic() < session.renew_after:
                return  # another thread did it
            if session.renewable and session.renew_after:
                try:
                    return session.took(auth.token.renew_self())
                except exceptions.VaultError:
                    pass  # expired, or past its max TTL: log in
            role_id, mount = self.target(config).role_id, self.target(config).approle_mount
            secret_id = self._secret_id(name, config)
            try:
                session.took(auth.approle.login(role_id, secret_id, mount_point=mount))
            except exceptions.VaultError as exc:
                reason = _REASONS.get(type(exc).__name__, type(exc).__name__)
                raise self.error(name, f"AppRole login refused: {reason}") from None

    def _secret_id(self, name: str, config: SourceConfig) -> str | None:
        """VAULT_SECRET_ID, or the secret that `secret_id_name` names, looked up org-wide
        in the other active sources, in their order."""
        secret_id_name = self.target(config).secret_id_name
        if not secret_id_name:
            return getenv("VAULT_SECRET_ID") or None
        from prefect_secrets._sources.registry import active_sources

        for source in active_sources(config):
            value = MISSING if source is self else source.lookup(org_key(secret_id_name), config)
            if value is not MISSING:
                return str(value)
        missing = f"secret {secret_id_name!r} (setting secret_id_name) is not set"
        raise self.error(name, f"AppRole secret id: {missing} in the other sources")
