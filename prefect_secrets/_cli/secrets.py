"""`set`, `get` and `delete`: one secret at a time, in any store that can hold it."""

from __future__ import annotations

from typing import Annotated, Any

from cyclopts import Parameter

from prefect_secrets._cli.common import (
    DomainOption,
    JsonOutput,
    NameArgument,
    OnlyStoreOption,
    OrgOption,
    ProjectOption,
    StoreOption,
    YesOption,
    checked_name,
    key_in_scope,
    lookup_scope,
    only_store,
    parse_json,
    read_value,
    store,
    type_name,
    value_text,
)
from prefect_secrets._cli.output import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, CliError, confirm, out
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._core.errors import PrefectSecretsError
from prefect_secrets._core.values import decode_value
from prefect_secrets._resolution import resolve, resolve_version
from prefect_secrets._resolution.explain import Place, explain, scope_label
from prefect_secrets.sources import SecretKey, SecretSource

__all__ = ["delete_secret", "get_secret", "set_secret"]

ServerFlag = Annotated[
    bool,
    Parameter(
        help="The Prefect server of PREFECT_API_URL (a Secret block): the same as --store server."
    ),
]


def set_secret(
    name: NameArgument,
    /,
    *,
    value: Annotated[
        str | None,
        Parameter(help="The value. Visible in shell history and `ps`: prefer the prompt or stdin."),
    ] = None,
    store_kind: StoreOption = None,
    server: ServerFlag = False,
    json_value: Annotated[
        bool,
        Parameter(
            name="--json",
            help="The value is JSON: store the object, array, number or boolean it holds "
            "(an inline table in the file).",
        ),
    ] = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
    yes: YesOption = False,
) -> int:
    """Store a secret: in the local file (default), as a Prefect Secret block (--server),
    or in any store that can hold it (--store KIND).

    Without --value, the value is read from a hidden prompt on a terminal, or from
    stdin otherwise (one trailing newline removed), so that it stays out of shell
    history. Replacing an existing secret asks first on a terminal, and needs --yes
    anywhere else. The value is never printed. With --project/--domain (or those
    settings) it is stored for that scope only.
    """
    config = SourceConfig()
    key = key_in_scope(name, project, domain, org, config=config)
    target = store(_store_kind(store_kind, server), config, doing="write")
    # Before the prompt: no one should type a secret only to hear that it cannot be stored.
    where = target.stored_place(key, config)
    if target.exists(key, config):
        confirm(f"Replace secret {key.name!r} in {where}?", yes, refused="nothing was saved")
    text = read_value(key.name, value)
    stored: Any = parse_json(text) if json_value else text
    try:
        outcome = target.write(key, stored, config)
    except UnstorableValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    verb = "Replaced" if outcome == "replaced" else "Saved"
    out().success(f"{verb} secret {key.name!r}: {where}.")
    _warn_if_shadowed(key, target, config)
    return EXIT_OK


def _store_kind(store_kind: str | None, server: bool) -> str:
    if server and store_kind not in (None, "server"):
        raise CliError(f"--server and --store {store_kind} disagree: give one", EXIT_USAGE)
    return "server" if server else store_kind or "file"


def _lookup_places(key: SecretKey) -> list[Place]:
    """What a lookup of `key`'s name in `key`'s scope sees (best effort: for notes only)."""
    try:
        return explain(key.name, key.project or "", key.domain or "")
    except PrefectSecretsError:
        return []


def _is_place_of(place: Place, key: SecretKey, source: SecretSource) -> bool:
    scope = scope_label(key.project, key.domain) if source.scoped else "any"
    return place.source == source.kind and place.scope == scope


def _warn_if_shadowed(key: SecretKey, target: SecretSource, config: SourceConfig) -> None:
    """Warn when a lookup in the scope written finds the secret somewhere else first, or
    does not ask the store written to at all."""
    places = _lookup_places(key)
    winner = next((place for place in places if place.status == "found"), None)
    if winner is not None and not _is_place_of(winner, key, target):
        out().warning(
            f"lookups of {key.name!r}{_scope_words(key)} find {winner.location} first: "
            "it shadows what was saved"
        )
    if places and not any(place.source == target.kind for place in places):
        out().note(f"lookups do not ask the {target.kind!r} source: the setting sources omits it")
        return
    try:
        reason = target.skip_reason(config)
    except PrefectSecretsError:
        return  # reported by the commands that read the settings
    if reason is not None:
        out().note(f"lookups do not ask the {target.kind!r} source here: {reason}")


def _scope_words(key: SecretKey) -> str:
    label = scope_label(key.project, key.domain)
    return "" if label == "org" else f" in {label}"


def get_secret(
    name: NameArgument,
    /,
    *,
    reveal: Annotated[
        bool, Parameter(help="Print the value itself (strings as stored, the rest as JSON).")
    ] = False,
    json_output: JsonOutput = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
    store_kind: OnlyStoreOption = None,
    version: Annotated[
        str | None,
        Parameter(
            name="--version",
            help="A pinned version (AWS VersionId or staging label, GCP or Vault number, "
            "Azure version id), as `Secret(NAME, version=...)` reads it.",
        ),
    ] = None,
) -> int:
    """Show whether a secret is set, where it comes from, its scope and its type;
    --reveal prints it.

    Looks where flows look, in the same order and scopes (see `which`); with --store,
    in that source only.
    """
    where = lookup_scope(project, domain, org)
    with only_store(store_kind):
        if version is None:
            stored, source, found_key = resolve(checked_name(name), *where)
        else:
            stored, source, found_key = resolve_version(checked_name(name), version, *where)
    place = source.place(found_key, SourceConfig())
    decoded = decode_value(stored)
    # Unscoped sources (env, mounted files) answer for every scope.
    scope = scope_label(found_key.project, found_key.domain) if source.scoped else "any"
    if json_output:
        payload: dict[str, Any] = {
            "name": found_key.name,
            "found": True,
            "source": source.kind,
            "location": place,
            "scope": scope,
            "type": type_name(decoded),
        }
        if version is not None:
            payload["version"] = version
        if reveal and isinstance(decoded, bytes):
            import base64

            payload["value_base64"] = base64.b64encode(decoded).decode("ascii")
        elif reveal:
            payload["value"] = decoded
        out().json(payload)
    elif reveal and isinstance(stored, bytes):
        out().raw_bytes(stored)
    elif reveal:
        out().raw(value_text(stored))
    else:
        pinned = "" if version is None else f" version {version}"
        out().info(f"{found_key.name}{pinned}: ******** ({type_name(decoded)})", "bold")
        out().info(f"from {place}")
        out().info(f"scope: {scope}")
        out().info("Use --reveal to print the value.", "dim")
    return EXIT_OK


def delete_secret(
    name: NameArgument,
    /,
    *,
    store_kind: StoreOption = None,
    server: Annotated[
        bool, Parameter(help="Delete its Prefect Secret block: the same as --store server.")
    ] = False,
    yes: YesOption = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
) -> int:
    """Delete a secret from the local file (default), its Prefect Secret block (--server)
    or another store (--store KIND), in the scope given (--project/--domain, else those
    settings; --org: org-wide).

    Asks first on a terminal; anywhere else, --yes is needed.
    """
    config = SourceConfig()
    key = key_in_scope(name, project, domain, org, config=config)
    target = store(_store_kind(store_kind, server), config, doing="delete")
    where = target.stored_place(key, config)
    if not target.exists(key, config):
        raise CliError(f"secret {key.name!r} is not in {where}; nothing deleted", EXIT_NOT_FOUND)
    confirm(f"Delete secret {key.name!r} from {where}?", yes, refused="nothing deleted")
    if not target.delete(key, config):
        raise CliError(f"secret {key.name!r} is not in {where}; nothing deleted", EXIT_NOT_FOUND)
    out().success(f"Deleted secret {key.name!r} from {where}.")
    for place in _lookup_places(key):
        if place.status in ("found", "shadowed") and not _is_place_of(place, key, target):
            out().note(f"{key.name!r} is still set in {place.location}")
    return EXIT_OK
