"""`doctor --deployments`: the server's deployments, work pools and variables scanned for
values that equal a secret this machine's sources hold, or that look like a token.

Secret values are compared by keyed hash (`_core.leaks`): no value is printed, and
none is kept beyond the hashes of this run. Each finding names the deployment (work
pool, variable) and the field path. Tokens are not minted for the comparison (a
minted token is new, so no deployment can hold it).
"""

from __future__ import annotations

from prefect_secrets._cli.output import EXIT_OK, EXIT_SOURCE_FAILED
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._core.errors import PrefectSecretsError, SettingsError, UnsupportedBySource
from prefect_secrets._core.leaks import Fingerprints, matching_patterns, string_leaves
from prefect_secrets._server.inventory import ServerInventory
from prefect_secrets._sources.registry import active_sources
from prefect_secrets.sources import SecretKey, SecretSource

__all__ = ["deployment_checks"]

#: (status, message, fix, exit code); status as doctor's: "ok", "warn", "fail", "info".
Check = tuple[str, str, str, int]

_FIX = (
    "put a reference there, not the value: README 'Deploying without values in the "
    "deployment'; then rotate the secret (the server has kept it)"
)
#: Sources not asked for values: a token is minted anew, so nothing stored can hold it.
_NOT_COMPARED = frozenset({"tokens"})


def deployment_checks(config: SourceConfig) -> list[Check]:
    """The secrets compared, then one line per finding, then the counts."""
    from prefect_secrets._server.endpoint import configured_api_url

    if configured_api_url() is None:
        return [
            (
                "fail",
                "no PREFECT_API_URL: no server to scan (a temporary server has no deployments)",
                "set PREFECT_API_URL to your server's API (`prefect config view`)",
                EXIT_SOURCE_FAILED,
            )
        ]
    fingerprints = Fingerprints()
    checks = _fingerprint_sources(config, fingerprints)
    try:
        inventory = _read(config)
    except PrefectSecretsError as exc:
        checks.append(("fail", str(exc), "start the server, or correct PREFECT_API_URL", 4))
        return checks
    findings = _scan(inventory, fingerprints)
    checks.append(
        (
            "info",
            f"compared with {fingerprints.secrets} secret value(s) by keyed hash (never "
            "shown), and with the built-in token patterns",
            "",
            EXIT_OK,
        )
    )
    checks.extend(("fail", finding, _FIX, EXIT_SOURCE_FAILED) for finding in findings)
    counts = (
        f"{len(inventory.deployments)} deployments, {len(inventory.work_pools)} work pools, "
        f"{len(inventory.variables)} variables scanned"
    )
    if findings:
        checks.append(("info", f"{len(findings)} found: {counts}", "", EXIT_OK))
    else:
        checks.append(("ok", f"nothing found: {counts}", "", EXIT_OK))
    return checks


def _fingerprint_sources(config: SourceConfig, fingerprints: Fingerprints) -> list[Check]:
    checks: list[Check] = []
    try:
        sources = active_sources(config)
    except SettingsError as exc:
        return [("fail", str(exc), "correct the setting sources", 5)]
    for source in sources:
        if source.kind in _NOT_COMPARED:
            continue
        try:
            reason = source.skip_reason(config)
            if reason:
                continue
            keys = list(source.names(config))
            values = source.lookup_many(keys, config) if keys else {}
        except UnsupportedBySource:
            checks.append(("info", f"{source.kind}: cannot list its secrets; not compared", "", 0))
            continue
        except PrefectSecretsError as exc:
            checks.append(
                ("warn", f"{source.kind}: {exc}; its secrets are not compared", "", EXIT_OK)
            )
            continue
        for key, value in values.items():
            fingerprints.add(_label(key, source), value)
    return checks


def _label(key: SecretKey, source: SecretSource) -> str:
    scope = "".join(
        f" {part}={value}"
        for part, value in (("project", key.project), ("domain", key.domain))
        if value is not None
    )
    return f"{key.name} ({source.kind}{scope})"


def _read(config: SourceConfig) -> ServerInventory:
    from prefect_secrets._server.client import client_for
    from prefect_secrets._server.endpoint import current_endpoint
    from prefect_secrets._server.inventory import read_inventory

    settings = config.settings
    client = client_for(current_endpoint(start_temporary=False))
    return read_inventory(client, timeout=settings.timeout, retries=settings.retries)


def _scan(inventory: ServerInventory, fingerprints: Fingerprints) -> list[str]:
    """One line per (thing, field, what it holds), in the order read. A field that equals
    a secret (a JSON string decoded included) is not also said to contain it."""
    found: dict[tuple[str, str], str] = {}
    for owner, document in inventory:
        for path, text in string_leaves(document):
            where = f"{owner} {path or 'value'}"
            match = fingerprints.match(text)
            if match is not None:
                how, label = match
                if found.get((where, label)) != "equals":
                    found[(where, label)] = how
            for pattern in matching_patterns(text):
                found[(where, f"pattern {pattern}")] = "matches"
    return [
        f"{where}: {how} {what}" if how == "matches" else f"{where}: {how} secret {what}"
        for (where, what), how in found.items()
    ]
