"""`preflight(secrets)`: resolve every declared secret once, and fail with ONE error naming
every one that is missing and every source that failed, before any work starts.

Each secret is resolved on its own (not with `get_many`), so that one failing source
does not hide what the others would have answered: the error lists everything to fix at
once. Values are handed out as `get` does (decoded and registered for masking, as the
tasks will see them; cached by the stores for `cache_ttl`), so the tasks that read them
next pay no second round trip; they are dropped here, never returned nor shown.
"""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import (
    PrefectSecretsError,
    SecretNotFound,
    SecretSourceError,
    SettingsError,
    UnsupportedBySource,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from prefect_secrets._secret import Secret

__all__ = ["apreflight", "label", "preflight", "preflight_error"]

_FAILURES = (SecretSourceError, SettingsError, UnsupportedBySource)


def label(secret: Secret) -> str:
    """How messages name a declared secret: its name, and its scope and version if any."""
    parts = [f"{field}={getattr(secret, field)}" for field in ("project", "domain", "version")]
    shown = ", ".join(part for part in parts if not part.endswith("=None"))
    return f"{secret.name!r}" + (f" ({shown})" if shown else "")


def preflight(secrets: Sequence[Secret]) -> None:
    """Resolve each of `secrets`; raise one error for all that cannot be."""
    missing: list[tuple[Secret, SecretNotFound]] = []
    failed: list[tuple[Secret, PrefectSecretsError]] = []
    for secret in secrets:
        try:
            secret.get()
        except SecretNotFound as exc:
            missing.append((secret, exc))
        except _FAILURES as exc:
            failed.append((secret, exc))
    if missing or failed:
        raise preflight_error(len(secrets), missing, failed)


async def apreflight(secrets: Sequence[Secret]) -> None:
    """`preflight` for async code: lookups do not block the event loop."""
    missing: list[tuple[Secret, SecretNotFound]] = []
    failed: list[tuple[Secret, PrefectSecretsError]] = []
    for secret in secrets:
        try:
            await secret.aget()
        except SecretNotFound as exc:
            missing.append((secret, exc))
        except _FAILURES as exc:
            failed.append((secret, exc))
    if missing or failed:
        raise preflight_error(len(secrets), missing, failed)


def preflight_error(
    declared: int,
    missing: Sequence[tuple[Secret, SecretNotFound]],
    failed: Sequence[tuple[Secret, PrefectSecretsError]],
) -> PrefectSecretsError:
    """The one error: `SecretNotFound` (every missing name, and where the first was
    searched) when nothing failed; else `SecretSourceError` listing both kinds."""
    if not failed:
        first = missing[0][1]
        # The name that is missing, which for a token is the secret its mint needs (its
        # client secret, its key), not the token's own name.
        others = dict.fromkeys(exc.name for _, exc in missing[1:] if exc.name != first.name)
        return SecretNotFound(
            first.name, first.places, also_missing=list(others), version=first.version
        )
    names = [_missing_label(secret, exc) for secret, exc in missing]
    lines = [f"missing: {', '.join(names)}"] if missing else []
    lines += [f"{label(secret)}: {exc}" for secret, exc in failed]
    problems = len(missing) + len(failed)
    return SecretSourceError(
        f"preflight: {problems} of {declared} declared secrets cannot be resolved; "
        + "; ".join(lines),
        source=", ".join(sorted({getattr(exc, "source", "") or "?" for _, exc in failed})),
    )


def _missing_label(secret: Secret, missing: SecretNotFound) -> str:
    if missing.name == secret.name:
        return label(secret)
    return f"{missing.name!r} (needed by {label(secret)})"
