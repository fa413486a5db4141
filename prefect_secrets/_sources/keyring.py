"""The OS keychain, with the `keyring` library: `sources = [..., "keyring", ...]`.

For local development: `prefect-secrets set DB_PASSWORD --store keyring` keeps the
value in macOS Keychain, Windows Credential Manager or a Secret Service (GNOME
Keyring, KWallet) instead of the plaintext config file. Which keychain is keyring's
choice (`PYTHON_KEYRING_BACKEND`, keyring's own config file).

| secret (name, project, domain) | keychain item (service `prefect-secrets`)  |
|--------------------------------|--------------------------------------------|
| `DB_PASSWORD`                  | account `DB_PASSWORD`                      |
| `DB_PASSWORD`, etl, prod       | account `scope--etl--prod--DB_PASSWORD`    |
| `DB_PASSWORD`, etl, -          | account `scope--etl----DB_PASSWORD`        |
| `DB_PASSWORD`, -, prod         | account `scope----prod--DB_PASSWORD`       |
| org-wide `scope--x`            | account `scope------scope--x`              |
| (the index: see below)         | account `__index__.json`                   |

Scope names never hold `--`, so an account parses back unambiguously. An org-wide
name that starts with `scope--` is written in the scoped form with both parts
empty (which no scoped key has), so every name has an account of its own. Names
keep their case. The service is the setting `service`.

Values are strings; anything else is stored as JSON text, which `get()` decodes.

keyring cannot list a service's accounts, so the source keeps an index in the
keychain itself: account `__index__.json` holds the JSON list of the accounts this
library wrote (names, never values), for `ls`. `set` writes the value, then the
index; `delete` removes the value, then the index: an interruption leaves a secret
that `ls` misses, never a listed name without a value. Two processes writing at the
same moment can lose one index entry (the value is safe); items written with other
tools are not listed until written again through this library. `.` is in no secret
name, so the index cannot be a secret's account.

`blocking_io` is True: a desktop keychain may show an unlock prompt and wait for
the user. Async lookups then run on a worker thread (the event loop never waits
on it), concurrent lookups of one name share one call (one prompt), and the
deadline `timeout` x (`retries` + 1) bounds a lookup, so that a headless process
fails with an error instead of hanging on a prompt nobody sees; the answer, if it
comes later, is cached. Answers are cached for `cache_ttl` like any store's: a
value changed with another tool is seen once that expires, at once after a write
through this library.

Errors from the backend (locked, no backend, an unreadable keyring file) are
`SecretSourceError`s naming the backend and the secret, never a value: a backend's
own message can quote the store's content, so only its type is shown. keyrings.alt's
file backends skip a file they cannot open (every secret would look absent, and the
next write would replace the file): the source opens it first and reports the error.
"""

from __future__ import annotations

import json
import threading

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.names import SCOPED_BLOCK_PREFIX, is_valid_name, validate_scope
from prefect_secrets._sources.remote import RemoteSource, require_extra
from prefect_secrets.sources import (
    MISSING,
    SecretKey,
    Setting,
    SourceConfig,
    org_key,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["INDEX_ACCOUNT", "KeyringSource", "account_of", "key_of_account"]

#: The account of the index: the JSON list of the accounts this library wrote.
INDEX_ACCOUNT = "__index__.json"

_NO_BACKEND = (
    "no keyring backend is available. On a desktop, keyring uses macOS Keychain, Windows "
    "Credential Manager, or a Secret Service (GNOME Keyring, KWallet: it must be running "
    "and unlocked); elsewhere choose a backend with PYTHON_KEYRING_BACKEND, e.g. `pip "
    "install keyrings.alt` and PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring "
    "(a plaintext file: for development only)"
)


def _service(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a service name, like 'prefect-secrets'")
    return value.strip()


def account_of(key: SecretKey) -> str:
    """The keychain account of `key` (the table in the module docstring)."""
    name, project, domain = key
    if project is None and domain is None and not name.startswith(SCOPED_BLOCK_PREFIX):
        return name
    return f"{SCOPED_BLOCK_PREFIX}{project or ''}--{domain or ''}--{name}"


def key_of_account(account: str) -> SecretKey | None:
    """The key an account stands for (the reverse of `account_of`), or None."""
    if not account.startswith(SCOPED_BLOCK_PREFIX):
        return org_key(account) if is_valid_name(account) else None
    project, _, rest = account[len(SCOPED_BLOCK_PREFIX) :].partition("--")
    domain, separator, name = rest.partition("--")
    if not separator or not is_valid_name(name):
        return None
    for part in (project, domain):
        try:
            if part:
                validate_scope(part, what="scope")
        except ValueError:
            return None
    if not project and not domain:
        return org_key(name) if name.startswith(SCOPED_BLOCK_PREFIX) else None
    return SecretKey(name, project or None, domain or None)


class KeyringSource(RemoteSource):
    """Secrets in the OS keychain, one item per secret (see the module docstring)."""

    kind = "keyring"
    title = "OS keychain"
    extra = "keyring"
    blocking_io = True  # an unlock prompt can wait on the user: see the module docstring
    setting_specs = (
        Setting("service", _service, "prefect-secrets", "the keychain service of the items"),
    )

    def __init__(self) -> None:
        super().__init__()
        self._index_lock = threading.Lock()
        self._service: str | None = None

    def service(self, config: SourceConfig) -> str:
        """The service in force; cached answers are dropped when it changes."""
        service: str = config.source_settings(self)["service"]
        if service != self._service:
            self.invalidate()
            self._service = service
        return service

    def client(self, config: SourceConfig) -> Any:
        """keyring's backend in force (keyring chooses it once per process)."""
        keyring = require_extra("keyring", self.extra, self.kind)
        return keyring.get_keyring()

    # --- names -----------------------------------------------------------------------------

    def store_name(self, key: SecretKey, config: SourceConfig) -> str:
        self.service(config)
        return account_of(key)

    def key_of(self, name: str, config: SourceConfig) -> SecretKey | None:
        return key_of_account(name)

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        return f"OS keychain service '{self.service(config)}' account '{account_of(key)}'"

    # --- the store ---------------------------------------------------------------------------

    def fetch(self, name: str, config: SourceConfig) -> Any:
        service = self.service(config)
        value = self._backend_call(name, config, lambda b: b.get_password(service, name))
        return MISSING if value is None else value

    def store(self, name: str, value: Any, config: SourceConfig) -> str:
        service = self.service(config)
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        backend = self.client(config)
        if _backend_name(backend) == "keyring.backends.null.Keyring":
            raise self.error(name, "keyring's null backend stores nothing (PYTHON_KEYRING_BACKEND)")
        existed = self.fetch(name, config) is not MISSING
        self._backend_call(name, config, lambda b: b.set_password(service, name, text))
        self._change_index(name, config, add=True)
        return "replaced" if existed else "created"

    def remove(self, name: str, config: SourceConfig) -> bool:
        service = self.service(config)
        errors = require_extra("keyring.errors", self.extra, self.kind)

        def delete(backend: Any) -> bool:
            try:
                backend.delete_password(service, name)
            except errors.PasswordDeleteError:
                return False
            return True

        removed = self._backend_call(name, config, delete)
        self._change_index(name, config, add=False)
        return bool(removed)

    def list_names(self, config: SourceConfig) -> list[str]:
        return self._read_index(config)

    def check(self, config: SourceConfig) -> str:
        count = len(self._read_index(config))
        backend = _backend_name(self.client(config))
        return f"{backend}, service '{self.service(config)}': {count} secret(s) in the index"

    # --- the index ---------------------------------------------------------------------------

    def _read_index(self, config: SourceConfig) -> list[str]:
        service = self.service(config)
        text = self._backend_call(
            INDEX_ACCOUNT, config, lambda b: b.get_password(service, INDEX_ACCOUNT)
        )
        if text is None:
            return []
        try:
            accounts = json.loads(text)
        except ValueError:
            accounts = None
        if not (isinstance(accounts, list) and all(isinstance(a, str) for a in accounts)):
            raise self.error(
                INDEX_ACCOUNT,
                f"the index is not a JSON list of names: delete it (`keyring del {service} "
                f"{INDEX_ACCOUNT}`) and set the secrets again to rebuild it",
            )
        return accounts

    def _change_index(self, name: str, config: SourceConfig, *, add: bool) -> None:
        service = self.service(config)
        with self._index_lock:  # one read-modify-write at a time in this process
            accounts = set(self._read_index(config))
            if (name in accounts) == add:
                return
            accounts = accounts | {name} if add else accounts - {name}
            text = json.dumps(sorted(accounts))
            self._backend_call(
                INDEX_ACCOUNT, config, lambda b: b.set_password(service, INDEX_ACCOUNT, text)
            )

    # --- errors ------------------------------------------------------------------------------

    def _backend_call(self, name: str, config: SourceConfig, call: Callable[[Any], Any]) -> Any:
        """`call(backend)`, its failures as `SecretSourceError`s that name the backend."""
        backend = self.client(config)
        errors = require_extra("keyring.errors", self.extra, self.kind)
        label = _backend_name(backend)
        try:
            _check_file(backend)
            return call(backend)
        except errors.NoKeyringError:
            raise self.error(name, _NO_BACKEND) from None
        except errors.KeyringLocked:
            raise self.error(name, f"{label} is locked: unlock it, then try again") from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            reason = exc.strerror or type(exc).__name__
            raise self.error(name, f"{label} cannot be read or written ({reason}{where})") from None
        except Exception as exc:  # noqa: BLE001 - any backend failure; its text may hold values
            raise self.error(name, f"{label} failed ({type(exc).__name__})") from None


def _backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_file(backend: Any) -> None:
    """Raise the OSError of a keyring file that exists but cannot be opened (keyrings.alt
    skips such a file, silently, in reads and in the read before a write)."""
    path = getattr(backend, "file_path", None)
    if isinstance(path, str):
        try:
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            pass  # an empty keyring: nothing stored yet
