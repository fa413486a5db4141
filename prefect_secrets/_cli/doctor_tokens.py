"""`doctor`'s Tokens section: each declared token minted, as a lookup would mint it, with its
remaining lifetime (never the token); a Kubernetes token is also checked with TokenReview
(authenticated, user, audiences). Bad declarations and failures are reported one per line.
"""

from __future__ import annotations

from prefect_secrets._cli.output import EXIT_BAD_SETTING, EXIT_OK, EXIT_SOURCE_FAILED
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._core.errors import PrefectSecretsError, SettingsError
from prefect_secrets._sources.registry import active_sources, source_of_kind
from prefect_secrets._sources.tokens import TokenSource
from prefect_secrets._tokens.registry import declared_names, declared_token

__all__ = ["token_checks"]

#: (status, message, fix, exit code); status as doctor's: "ok", "fail", "info".
Check = tuple[str, str, str, int]


def token_checks(config: SourceConfig) -> list[Check]:
    """One line per declared token."""
    try:
        names = declared_names(config.document)
    except PrefectSecretsError as exc:
        return [
            ("fail", str(exc), "correct the config file at the place named", EXIT_SOURCE_FAILED)
        ]
    try:
        asked = any(source.kind == "tokens" for source in active_sources(config))
    except SettingsError:
        asked = True  # the sources section reports the setting
    if names and not asked:
        return [
            ("info", f"not minted: 'tokens' is not in sources ({len(names)} declared)", "", EXIT_OK)
        ]
    if not names:
        return [
            (
                "info",
                "none declared ([tokens.NAME] in the config file, or declare_tokens)",
                "",
                EXIT_OK,
            )
        ]
    source = source_of_kind("tokens", config)
    assert isinstance(source, TokenSource)
    return [_check(name, source, config) for name in names]


def _check(name: str, source: TokenSource, config: SourceConfig) -> Check:
    try:
        token = declared_token(name, config.document)
        assert token is not None
        minted = source.minted(token, config)
    except SettingsError as exc:
        return ("fail", f"{name}: {exc}", "correct the declaration", EXIT_BAD_SETTING)
    except PrefectSecretsError as exc:
        return ("fail", f"{name}: {exc}", "see the README's Tokens section", EXIT_SOURCE_FAILED)
    message = f"{name}: minted ({token.kind}), expires in {minted.remaining():.0f} s"
    review = getattr(token, "review", None)
    if review is None:
        return ("ok", message, "", EXIT_OK)
    try:
        verdict = review(minted, timeout=config.settings.timeout)
    except PrefectSecretsError as exc:
        return ("fail", f"{message}; TokenReview failed: {exc}", "", EXIT_SOURCE_FAILED)
    status = "ok" if verdict["authenticated"] else "fail"
    return (
        status,
        f"{message}; TokenReview: authenticated={verdict['authenticated']}, "
        f"user={verdict['user']}, audiences={verdict['audiences']}",
        "" if status == "ok" else "check the audiences and the service account",
        EXIT_OK if status == "ok" else EXIT_SOURCE_FAILED,
    )
