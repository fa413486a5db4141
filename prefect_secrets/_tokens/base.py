"""What every kind of token shares: the declaration (`Token`), what minting returns
(`MintedToken`), reading a `[tokens.NAME]` table, retries and expiry.

A declaration holds the *names* of the secrets it needs (a client secret, a private key,
a service-account key), never their values: `mint(secret_of)` asks `secret_of(name)` for
them when it mints, so a declaration can be printed, compared and hashed (the cache of
minted tokens is keyed by it: an edited declaration mints afresh).

Failures are `SecretSourceError`s naming the token, its kind and its endpoint, never a
secret or a token. Transient failures (429, 5xx, unreachable, too slow) are retried up to
`retries` times with backoff (0.5 s, doubling, at most 4 s: as the remote stores); a
refusal (401, 403, invalid_client) never is.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from importlib import import_module

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError, SettingsError
from prefect_secrets._core.names import validate_name

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType
    from typing import Any, ClassVar, Self, TypeVar

    T = TypeVar("T")

    #: `where(key)`: where a key of the table is written ("<file>, line N"); None: the table.
    Where = Callable[[str | None], str]
    #: `secret_of(name)`: the stored value of another secret, resolved by the library.
    SecretOf = Callable[[str], Any]

__all__ = [
    "MAX_BACKOFF",
    "MintedToken",
    "Table",
    "Token",
    "Transient",
    "import_extra",
    "jwt_expiry",
]

#: The longest pause between two attempts (seconds), as for the remote stores.
MAX_BACKOFF = 4.0


@dataclass(frozen=True, repr=False)
class MintedToken:
    """A token and when it expires (epoch seconds). Its repr shows no value."""

    value: str
    expires_at: float
    minted_at: float = field(default_factory=time.time)

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.minted_at

    def remaining(self, now: float | None = None) -> float:
        """Seconds until it expires."""
        return self.expires_at - (time.time() if now is None else now)

    def __repr__(self) -> str:
        return f"MintedToken(expires in {self.remaining():.0f} s)"


class Transient(Exception):
    """A failure worth another attempt (429, 5xx, unreachable, too slow); `reason` is safe
    to show (no secret, no token, no response body)."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The endpoint never answered (a connection error or a timeout), rather than
        #: answering with an error: the Kubernetes token falls back to its file then.
        self.unreachable = unreachable


def import_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import `module` (an SDK), or say which extra installs it."""
    try:
        return import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise SettingsError(f'{what} needs {top}: pip install "prefect-secrets[{extra}]"') from None


def jwt_expiry(value: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (the issuer's client only needs to
    know when to ask again); None when `value` is not a JWT with a numeric `exp`."""
    parts = value.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        exp = json.loads(payload).get("exp")
    except (ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


class Token:
    """A token declaration. Subclasses are frozen dataclasses whose first field is `name`
    (the secret name it is read under) and implement `endpoint`, `mint` and `from_table`."""

    #: `kind = "..."` in a `[tokens.NAME]` table.
    kind: ClassVar[str]
    #: The extra that installs its SDK: `pip install "prefect-secrets[<pip_extra>]"`.
    pip_extra: ClassVar[str]
    name: str

    @property
    def endpoint(self) -> str:
        """Where it is minted, for messages (a URL, "the metadata server", ...)."""
        raise NotImplementedError

    def mint(self, secret_of: SecretOf, *, timeout: float = 5.0, retries: int = 2) -> MintedToken:
        """A new token. `secret_of(name)` gives the secrets the declaration names; each
        request may take `timeout` seconds; transient failures are retried `retries` times."""
        raise NotImplementedError

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: Where) -> Self:
        """The declaration a `[tokens.NAME]` table makes; `SettingsError` naming the file,
        line and key at fault."""
        raise NotImplementedError

    # --- shared by the kinds -----------------------------------------------------------------

    def check_name(self) -> None:
        """Called by each kind's `__post_init__`."""
        try:
            validate_name(self.name)
        except ValueError as exc:
            raise SettingsError(f"token {self.name!r}: {exc}") from None

    def sdk(self, module: str) -> ModuleType:
        return import_extra(module, self.pip_extra, f"token {self.name!r} ({self.kind})")

    def error(self, reason: str) -> SecretSourceError:
        return SecretSourceError(
            f"token {self.name!r} ({self.kind}, {self.endpoint}): {reason}",
            source="tokens",
            place=self.endpoint,
        )

    def secret_text(self, secret_of: SecretOf, secret_name: str, what: str) -> str:
        """The value of secret `secret_name` as text (never shown in errors)."""
        value = secret_of(secret_name)
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                value = None
        if not isinstance(value, str) or not value:
            raise self.error(f"the secret {secret_name!r} ({what}) is not a non-empty text")
        return value

    def retrying(
        self,
        attempt: Callable[[], T],
        retries: int,
        *,
        fallback: Callable[[SecretSourceError], T] | None = None,
    ) -> T:
        """`attempt()`, again after each `Transient` failure, at most `retries` times more.
        When the endpoint never answered, `fallback(error)` has the last word."""
        for number in range(retries + 1):
            try:
                return attempt()
            except Transient as exc:
                if number == retries:
                    attempts = f"{number + 1} attempt{'s' if number else ''}"
                    error = self.error(f"{exc.reason}, {attempts}")
                    if fallback is not None and exc.unreachable:
                        return fallback(error)
                    raise error from None
                time.sleep(min(MAX_BACKOFF, 0.5 * 2**number))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def expiring(self, value: object, expires_at: float | None) -> MintedToken:
        """`MintedToken(value, expires_at)`; a token that never expires is refused."""
        if not isinstance(value, str) or not value:
            raise self.error("the answer holds no token")
        if expires_at is None:
            expires_at = jwt_expiry(value)
        if expires_at is None:
            raise self.error(
                "the token issued never expires (no expires_in, no exp claim): a token that "
                "never expires is a plain secret; store it as one"
            )
        return MintedToken(value, expires_at)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, endpoint={self.endpoint!r})"


class Table:
    """Reads one `[tokens.NAME]` table: typed values, errors naming the file, line and key,
    and a refusal of keys the kind does not know (a typo must not be ignored)."""

    def __init__(self, name: str, table: Mapping[str, Any], where: Where) -> None:
        self.name = name
        self.table = table
        self.where = where
        self._read = {"kind"}

    def bad(self, key: str | None, why: str) -> SettingsError:
        at = f"[tokens.{self.name}] {key}" if key else f"[tokens.{self.name}]"
        return SettingsError(f"{self.where(key)}: {at} {why}")

    def raw(self, key: str) -> Any:
        self._read.add(key)
        return self.table.get(key)

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self.bad(None, f'needs {key} = "..."')
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.bad(key, "must be a non-empty string")
        return value.strip()

    def secret_name(self, key: str, *, required: bool = False) -> str | None:
        """The name of another secret (the value is looked up when minting)."""
        value = self.text(key, required=required)
        if value is not None:
            try:
                validate_name(value)
            except ValueError as exc:
                raise self.bad(key, f"names a secret: {exc}") from None
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings, or one string of space-separated words (OAuth's `scope`)."""
        value = self.raw(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return tuple(value)
        raise self.bad(key, "must be a string or a list of strings")

    def seconds(self, key: str, default: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.bad(key, "must be a positive whole number of seconds")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(key) or default
        if value not in choices:
            raise self.bad(key, f"must be one of {', '.join(choices)} (not {value!r})")
        return value

    def params(self, key: str) -> tuple[tuple[str, str], ...]:
        """A table of extra form parameters: {name: string, number or boolean}."""
        value = self.raw(key)
        if value is None:
            return ()
        if not isinstance(value, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in value.values()
        ):
            raise self.bad(key, 'must be a table of strings, e.g. { resource = "..." }')
        return tuple(
            (str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in value.items()
        )

    def finish(self) -> None:
        """Refuse the keys no reader asked for."""
        unknown = sorted(set(self.table) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise self.bad(unknown[0], f"is not a setting of this kind of token (known: {known})")
