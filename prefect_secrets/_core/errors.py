"""Exceptions raised by prefect-secrets.

    PrefectSecretsError
    ├── SecretNotFound        (also KeyError and ValueError)
    ├── SecretSourceError
    ├── SettingsError         (also ValueError)
    ├── SecretInjectionError  (also RuntimeError)
    ├── SecretStorageRefused  (also ValueError)
    └── UnsupportedBySource   (also TypeError)

No message built here ever contains a secret value: messages are made of
secret names, places (env var names, file paths, server URLs, block names)
and reasons only.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "PrefectSecretsError",
    "SecretInjectionError",
    "SecretNotFound",
    "SecretSourceError",
    "SecretStorageRefused",
    "SettingsError",
    "UnsupportedBySource",
]


class PrefectSecretsError(Exception):
    """Base class of every error this library raises on purpose."""


class SecretNotFound(PrefectSecretsError, KeyError, ValueError):
    """No source has the secret. Every source that was asked answered cleanly."""

    def __init__(
        self,
        name: str,
        places: Sequence[str],
        also_missing: Sequence[str] = (),
        version: str | None = None,
    ) -> None:
        self.name = name
        self.places = tuple(places)
        self.also_missing = tuple(also_missing)
        #: The pinned version that was asked for (`Secret(name, version=...)`), if any.
        self.version = version
        #: Every missing name (several when `get_many` misses more than one).
        self.names = (name, *self.also_missing)
        searched = "; ".join(f"{i}. {place}" for i, place in enumerate(self.places, 1))
        others = ""
        if self.also_missing:
            others = f" (nor {', '.join(repr(n) for n in self.also_missing)}, searched alike)"
        pinned = "" if version is None else f" version {version!r}"
        super().__init__(
            f"secret {name!r}{pinned} not found{others}. Searched, in order: {searched}"
        )

    # KeyError.__str__ shows repr(args[0]), which would quote the whole message
    # and escape it; users read this message, so show it as written.
    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(
        self,
    ) -> tuple[type[SecretNotFound], tuple[str, tuple[str, ...], tuple[str, ...], str | None]]:
        return (type(self), (self.name, self.places, self.also_missing, self.version))


class SecretSourceError(PrefectSecretsError):
    """A source failed (unreadable or malformed file, unreachable or refusing
    server), so whether it has the secret is unknown."""

    def __init__(self, message: str, *, source: str = "", place: str = "") -> None:
        self.source = source
        self.place = place
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_source_error, (type(self), str(self), self.source, self.place))


def _rebuild_source_error(
    cls: type[SecretSourceError], message: str, source: str, place: str
) -> SecretSourceError:
    # Keyword-only arguments do not survive the default pickling of exceptions;
    # Prefect pickles task exceptions, so keep ours round-trippable.
    return cls(message, source=source, place=place)


class SettingsError(PrefectSecretsError, ValueError):
    """A setting has an invalid value. The message names the env var or the
    file, line and key at fault."""


class SecretInjectionError(PrefectSecretsError, RuntimeError):
    """`with_secrets` cannot inject safely: another thread or task of this process
    holds the same env var with a different value."""


class SecretStorageRefused(PrefectSecretsError, ValueError):
    """A secret's value was about to be stored as data that Prefect hands back (a
    Variable, deployment parameters or job variables, a block's non-secret field):
    refused, rather than stored in plaintext or silently as `********`."""


class UnsupportedBySource(PrefectSecretsError, TypeError):
    """The source cannot do what was asked: store, delete or list secrets, or pin a version."""
