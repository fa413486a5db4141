"""`doctor`: the config file, the settings in force and where each comes from, the sources in
their order, and the Prefect server; what to fix, with the fix."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated

from cyclopts import Parameter

from prefect_secrets._cli.doctor_tokens import token_checks
from prefect_secrets._cli.output import EXIT_OK, EXIT_SOURCE_FAILED, out
from prefect_secrets._config.file import ConfigDocument, ConfigFile, config_path
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._config.settings import (
    ENV_PREFIX_ENV_VAR,
    Settings,
    env_prefix,
    load_settings,
)
from prefect_secrets._core.environ import getenv
from prefect_secrets._core.errors import PrefectSecretsError, SecretSourceError, SettingsError
from prefect_secrets._core.names import env_var_name
from prefect_secrets._server.endpoint import Endpoint, server_skip_reason
from prefect_secrets._sources.prefect1 import PREFECT1_LABEL
from prefect_secrets._sources.registry import DEFAULT_ORDER, active_sources
from prefect_secrets.sources import SecretSource

__all__ = ["doctor"]


@dataclass
class _Check:
    status: str  # "ok", "warn", "fail", "info"
    message: str
    fix: str = ""
    code: int = EXIT_SOURCE_FAILED


_MARKS = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "info": ("·", "")}


def doctor(
    *,
    masking: Annotated[
        bool,
        Parameter(
            help="Instead, check every masking hook end to end in this process and this "
            "Prefect version (with a fake value), and report each as working or missing."
        ),
    ] = False,
    deployments: Annotated[
        bool,
        Parameter(
            help="Instead, scan the Prefect server's deployments (parameters, job "
            "variables), work pools (base job templates) and variables for values equal "
            "to a secret this machine's sources hold, or shaped like a token; never "
            "shows a value."
        ),
    ] = False,
) -> int:
    """Check the config file, the settings in force, the sources and the Prefect server;
    say what to fix. With --masking, check the masking hooks instead; with
    --deployments, scan the server's deployments, work pools and variables for secrets.

    Exits 0 when nothing needs fixing (warnings included), 5 when a setting is
    invalid, 4 when anything else fails.
    """
    if masking:
        return _report([("Masking hooks (a fake value, this process)", _check_masking())])
    if deployments:
        from prefect_secrets._cli.doctor_deployments import deployment_checks

        scanned = [_Check(*check) for check in deployment_checks(SourceConfig())]
        return _report([("Secrets in deployments, work pools and variables", scanned)])
    sections: list[tuple[str, list[_Check]]] = []
    document_checks, document = _check_config_file()
    sections.append((f"Config file {config_path()}", document_checks))
    settings_checks, settings = _check_settings(document)
    sections.append(("Settings in force", settings_checks))
    if settings is not None:
        config = SourceConfig.of(document, settings)
        sections.append(("Sources, in the order lookups ask them", _check_sources(config)))
        tokens = [_Check(*check) for check in token_checks(config)]
        sections.append(("Tokens (minted now; never shown)", tokens))
        sections.append(("Prefect 1 config file", _check_prefect1(settings)))
        sections.append(("Prefect server", _check_server(settings)))

    return _report(sections)


def _report(sections: list[tuple[str, list[_Check]]]) -> int:
    output = out()
    for title, checks in sections:
        output.info(title, "bold")
        for check in checks:
            mark, style = _MARKS[check.status]
            output.line(output.text(f"  {mark} ", style) + output.text(check.message))
            if check.fix:
                output.line(output.text(f"    fix: {check.fix}", "cyan"))
    checks = [check for _, group in sections for check in group]
    failed = [check for check in checks if check.status == "fail"]
    warned = sum(check.status == "warn" for check in checks)
    if failed:
        output.info(f"{len(failed)} problem{'s' if len(failed) > 1 else ''} to fix.", "red")
        return max(check.code for check in failed)
    output.info(
        "Nothing to fix" + (f" ({warned} warning{'s' if warned > 1 else ''})." if warned else "."),
        "green",
    )
    return EXIT_OK


def _check_masking() -> list[_Check]:
    import prefect

    from prefect_secrets._masking.selftest import run_selftest

    statuses = {"working": "ok", "missing": "fail", "failed": "fail"}
    checks = [_Check("info", f"Prefect {prefect.__version__}, Python {sys.version.split()[0]}")]
    for result in run_selftest():
        fix = "" if result.status == "working" else _MASKING_FIX
        checks.append(
            _Check(
                statuses[result.status], f"{result.name}: {result.status} ({result.detail})", fix
            )
        )
    return checks


_MASKING_FIX = (
    "upgrade prefect-secrets for this Prefect version, or report it with this output "
    "(it holds no secret)"
)


def _check_config_file() -> tuple[list[_Check], ConfigDocument]:
    path = config_path()
    checks: list[_Check] = []
    try:
        document = ConfigFile(path).read()
    except SecretSourceError as exc:
        checks.append(_Check("fail", str(exc), "correct the file at the place named"))
        return checks, ConfigDocument(path=path, exists=False)
    if not document.exists:
        checks.append(
            _Check(
                "info",
                "does not exist (no local secrets); `prefect-secrets set NAME` creates it "
                "(mode 0600)",
            )
        )
        return checks, document
    checks.append(
        _Check(
            "ok",
            f"parses: {len(document.secrets)} secret(s) in [context.secrets], "
            f"{len(document.settings)} setting(s) in [settings]",
        )
    )
    if document.mode & 0o077:
        strict = _strict_permissions_hint(document)
        checks.append(
            _Check(
                "fail" if strict else "warn",
                f"other users have access to it (mode {document.mode:04o})",
                f"chmod 600 {path}",
            )
        )
    else:
        checks.append(_Check("ok", f"private (mode {document.mode:04o})"))
    return checks, document


def _strict_permissions_hint(document: ConfigDocument) -> bool:
    try:
        return load_settings(document).strict_permissions
    except SettingsError:
        return False


def _check_settings(document: ConfigDocument) -> tuple[list[_Check], Settings | None]:
    checks: list[_Check] = []
    try:
        prefix = env_prefix()
        origin = f"env {ENV_PREFIX_ENV_VAR}" if getenv(ENV_PREFIX_ENV_VAR) else "default"
        checks.append(
            _Check("info", f"env var prefix = {prefix} ({origin}): {env_var_name(prefix, 'NAME')}")
        )
    except SettingsError as exc:
        checks.append(_Check("fail", str(exc), f"unset or correct {ENV_PREFIX_ENV_VAR}", 5))
    try:
        settings = load_settings(document)
    except SettingsError as exc:
        checks.append(_Check("fail", str(exc), "correct the env var or line named", 5))
        return checks, None
    for name, shown in settings:
        if name == "prefect1_config" and shown is None:
            shown = '"" (off)'
        elif name == "sources" and shown is None:
            shown = list(DEFAULT_ORDER)
        checks.append(_Check("info", f"{name} = {shown!r} ({settings.origin(name)})"))
    return checks, settings


def _check_sources(config: SourceConfig) -> list[_Check]:
    try:
        sources = active_sources(config)
    except SettingsError as exc:
        return [_Check("fail", str(exc), "correct the setting sources", 5)]
    checks = []
    for number, source in enumerate(sources, 1):
        try:
            reason = source.skip_reason(config)
        except PrefectSecretsError as exc:
            checks.append(_Check("fail", f"{number}. {source.kind}: {exc}"))
            continue
        if reason:
            checks.append(_Check("info", f"{number}. {source.kind}: not asked ({reason})"))
        elif source.kind in _CHECKED_KINDS or type(source).check is not SecretSource.check:
            checks.append(_check_manager(number, source, config))
        else:
            checks.append(_Check("info", f"{number}. {source.kind}: asked"))
    return checks


# The secret managers and stores outside this machine's files, and any source with a
# check of its own (a plug-in's): doctor asks each one (reachable, authenticated,
# allowed to list), as a lookup would. The server has its own section.
_CHECKED_KINDS = frozenset({"aws", "gcp", "vault", "azure", "keyring", "block"})


def _check_manager(number: int, source: SecretSource, config: SourceConfig) -> _Check:
    try:
        what = source.check(config)
    except SettingsError as exc:
        return _Check("fail", f"{number}. {source.kind}: {exc}", "correct the setting", 5)
    except PrefectSecretsError as exc:
        return _Check(
            "fail",
            f"{number}. {source.kind}: {exc}",
            f"see the {source.kind} section of the README (credentials, address, permissions)",
        )
    return _Check("ok", f"{number}. {source.kind}: {what}")


def _check_prefect1(settings: Settings) -> list[_Check]:
    if settings.prefect1_config is None:
        return [_Check("info", 'not read (prefect1_config = "")')]
    path = os.path.expanduser(settings.prefect1_config)
    try:
        document = ConfigFile(path, label=PREFECT1_LABEL, strict=False).read()
    except SecretSourceError as exc:
        return [_Check("fail", str(exc), 'correct it, or set prefect1_config = "" to skip it')]
    if not document.exists:
        return [_Check("info", f"{path}: none (nothing to read)")]
    checks = [_Check("ok", f"{path}: {len(document.secrets)} secret(s) in [context.secrets]")]
    if document.secrets:
        checks.append(
            _Check(
                "info",
                "still read below the new file; copy them with "
                "`prefect-secrets import-prefect1 --apply`",
            )
        )
    if document.mode & 0o077:
        checks.append(
            _Check(
                "fail" if settings.strict_permissions else "warn",
                f"other users have access to it (mode {document.mode:04o})",
                f"chmod 600 {path}",
            )
        )
    return checks


_ENCRYPTION_NOTE = (
    "a self-hosted Prefect server encrypts block data with a key it keeps in its own "
    "database, unless PREFECT_SERVER_ENCRYPTION_KEY is set in the server's environment: "
    "a copy of that database (a backup) is enough to read every secret"
)
_ENCRYPTION_FIX = (
    "set PREFECT_SERVER_ENCRYPTION_KEY to a Fernet key (python -c 'from cryptography.fernet "
    "import Fernet; print(Fernet.generate_key().decode())'), kept apart from the database "
    "backups, then re-save existing secrets (prefect-secrets set --server NAME): blocks "
    "saved under the old key cannot be read under the new one"
)


def _check_push(endpoint: Endpoint, settings: Settings) -> _Check:
    from prefect_secrets._server.release import block_events_missing, server_release

    release = server_release(endpoint, timeout=settings.timeout)
    if release is None:
        return _Check("info", "rotation push: the server did not say which Prefect it runs")
    reason = block_events_missing(release)
    if reason is not None:
        return _Check(
            "warn",
            f"rotation push: {reason} ({settings.cache_ttl:g} s)",
            "upgrade the server, or set push_invalidation = false to say it is expected",
        )
    return _Check("ok", f"rotation push: the server runs Prefect {release} (block events)")


def _check_server(settings: Settings) -> list[_Check]:
    reason = server_skip_reason(settings)
    if reason is not None:
        return [_Check("info", f"not asked by lookups: {reason}")]
    from prefect_secrets._server.client import client_for
    from prefect_secrets._server.endpoint import configured_api_url, current_endpoint

    api_url = configured_api_url()
    if api_url is None:
        return [
            _Check(
                "warn",
                "server = always but no PREFECT_API_URL: lookups start Prefect's temporary "
                "server (seconds per process, this machine's database only)",
                "set PREFECT_API_URL to your server's API, or PREFECT_SECRETS_SERVER=auto",
            )
        ]
    checks = [_Check("info", f"asked by lookups (server = {settings.server}): {api_url}")]
    try:
        endpoint = current_endpoint()
        # One real lookup of a block nobody has: proves the URL, credentials and
        # the Secret block route, exactly as `Secret(...).get()` will use them.
        client_for(endpoint).read_secret_block(
            "prefect-secrets-doctor-probe", timeout=settings.timeout, retries=0
        )
    except SecretSourceError as exc:
        checks.append(
            _Check(
                "fail",
                str(exc),
                "start the server, or correct PREFECT_API_URL / PREFECT_API_KEY "
                "(`prefect config view`)",
            )
        )
        return checks
    checks.append(_Check("ok", "reachable; Secret block lookups work"))
    if settings.push_invalidation:
        checks.append(_check_push(endpoint, settings))
    if "api.prefect.cloud" not in api_url:
        if getenv("PREFECT_SERVER_ENCRYPTION_KEY"):
            checks.append(
                _Check(
                    "info",
                    "PREFECT_SERVER_ENCRYPTION_KEY is set in this shell; it protects block "
                    "data only if the server runs with it too",
                )
            )
        else:
            checks.append(_Check("warn", _ENCRYPTION_NOTE, _ENCRYPTION_FIX))
    return checks
