"""`ls` and `which`: what each source holds, and where one lookup looks; never values.

Both go through the sources only (`names`, `place`, `lookup`) and take the
order from the one walk of the precedence (`_resolution.walk`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from cyclopts import Parameter

from prefect_secrets._cli.common import (
    DomainOption,
    JsonOutput,
    NameArgument,
    OnlyStoreOption,
    OrgOption,
    ProjectOption,
    checked_name,
    in_scope,
    lookup_scope,
    only_store,
)
from prefect_secrets._cli.output import (
    EXIT_BAD_SETTING,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_SOURCE_FAILED,
    out,
)
from prefect_secrets._cli.progress import ProgressBar, ProgressOption, progress_enabled
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._core.errors import (
    PrefectSecretsError,
    SecretSourceError,
    SettingsError,
    UnsupportedBySource,
)
from prefect_secrets._resolution.explain import explain, scope_label
from prefect_secrets._resolution.walk import active_sources, rank
from prefect_secrets.sources import SecretKey, SecretSource

__all__ = ["Inventory", "Row", "inventory", "list_secrets", "which_secret"]


@dataclass
class Row:
    """One name in one place, as `ls` shows it."""

    key: SecretKey
    source: SecretSource
    location: str
    rank: tuple[int, int]
    shadowed: bool = False

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def scope(self) -> str:
        # Unscoped sources (env, mounted, Prefect 1's file) answer for every scope.
        return scope_label(self.key.project, self.key.domain) if self.source.scoped else "any"


@dataclass
class Inventory:
    rows: list[Row] = field(default_factory=list)
    errors: list[PrefectSecretsError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def list_secrets(
    *,
    json_output: JsonOutput = False,
    project: Annotated[
        str | None,
        Parameter(name="--project", help="Only what a lookup in this project can see."),
    ] = None,
    domain: Annotated[
        str | None,
        Parameter(name="--domain", help="Only what a lookup in this domain can see."),
    ] = None,
    store_kind: OnlyStoreOption = None,
    versions: Annotated[
        bool,
        Parameter(
            name="--versions",
            help="List the versions (ids, creation times) that stores with versions keep.",
        ),
    ] = False,
    progress: ProgressOption = None,
) -> int:
    """List secret names, their scope and where each is set (every source that can list:
    env vars, mounted files, files, the server...); never values.

    A name set in several places is listed once per place; the ones a lookup would
    not use are marked shadowed. With --project/--domain, only what a lookup in that
    scope can see (its scopes, most specific first, then org-wide and unscoped sources).
    With --versions, each secret's versions in the stores that keep them (aws, gcp,
    vault, azure): version ids and creation times.
    """
    project, domain = lookup_scope(project, domain, False)
    scoped_view = bool(project or domain)
    title = "Secrets" + (in_scope(project, domain) if scoped_view else "")
    with only_store(store_kind):
        bar = ProgressBar("Listing", None, enabled=progress_enabled(progress))
        with bar:
            found = inventory((project or "", domain or "") if scoped_view else None, bar)
        if versions:
            from prefect_secrets._cli.versions import show_versions

            return show_versions(found, json_output=json_output, title=f"{title}: versions")
    if json_output:
        out().json(
            [
                {
                    "name": row.name,
                    "source": row.source.kind,
                    "scope": row.scope,
                    "location": row.location,
                    "shadowed": row.shadowed,
                }
                for row in found.rows
            ]
        )
    elif found.rows:
        from rich.table import Table

        table = Table(title=title, show_header=True)
        table.add_column("Name", style="blue", no_wrap=True)
        table.add_column("Scope", no_wrap=True)
        table.add_column("Source", no_wrap=True)
        table.add_column("Location")
        table.add_column("Status", no_wrap=True)
        for row in found.rows:
            status = out().text("shadowed", "yellow") if row.shadowed else out().text("in force")
            cells = (row.name, row.scope, row.source.kind, row.location)
            table.add_row(*map(out().text, cells), status)
        out().table(table)
    elif not found.errors:
        # A failed listing must not also claim an empty result.
        out().info("No secrets found.")
    for note in found.notes:
        out().note(note)
    for error in found.errors:
        out().error(str(error))
    if any(isinstance(error, SettingsError) for error in found.errors):
        return EXIT_BAD_SETTING
    return EXIT_SOURCE_FAILED if found.errors else EXIT_OK


def inventory(scope: tuple[str, str] | None, bar: ProgressBar | None = None) -> Inventory:
    """Every key each active source holds, in precedence order, with shadowing marked.

    `scope` ("" for none): keep only what a lookup in that scope sees; None: every scope.
    """
    found = Inventory()
    config = SourceConfig()
    try:
        sources = active_sources(config)
        chain = config.scope_chain(*scope) if scope is not None else None
    except (SecretSourceError, SettingsError) as exc:
        found.errors.append(exc)
        return found
    for source in sources:
        if bar is not None:  # a slow source (a server) shows which one is being listed
            bar.step(f"Listing {source.kind}...")
        try:
            keys = list(source.names(config))
            rows = [
                Row(key, source, source.place(key, config), (0, 0))
                for key in keys
                if chain is None or not source.scoped or (key.project, key.domain) in chain
            ]
        except UnsupportedBySource as exc:
            found.notes.append(str(exc))
            continue
        except (SecretSourceError, SettingsError) as exc:
            found.errors.append(exc)
            continue
        for row in rows:
            # Listing everything, each scope is its own lookup; listing one scope, its chain.
            project, domain = scope if scope is not None else (row.key.project, row.key.domain)
            row.rank = rank(source, row.key, project or "", domain or "", config)
        found.rows.extend(rows)
    _mark_shadowed(found.rows, all_scopes=scope is None)
    return found


def _mark_shadowed(rows: list[Row], *, all_scopes: bool) -> None:
    """Mark the rows a lookup would not reach because it finds the secret before them.

    Row B is shadowed by an earlier row A when one name reaches both (A's name
    is B's in B's store, or B's name is A's in A's store: a server folds case,
    so `API_KEY` in a file shadows block `api-key`) and every lookup that
    reaches B reaches A first. Listing every scope, a place scoped to project
    etl is reached by lookups in etl only; unscoped sources (env, mounted,
    Prefect 1's file) and org-wide places by every lookup.
    """
    rows.sort(key=lambda row: (row.name.lower(), row.rank))
    ordered = sorted(rows, key=lambda row: row.rank)
    for index, row in enumerate(ordered):
        row.shadowed = any(
            _same_lookup(earlier, row, all_scopes) and _one_name_reaches_both(earlier, row)
            for earlier in ordered[:index]
        )


def _same_lookup(earlier: Row, later: Row, all_scopes: bool) -> bool:
    """Whether every lookup that reaches `later` reaches `earlier` (which comes first)."""
    if not all_scopes:
        return True  # listing one scope: one lookup
    if earlier.source is later.source:
        return earlier.key[1:] == later.key[1:]
    # Unscoped and org-wide places are reached by every lookup; a project's by the
    # lookups in that project: `earlier` must be as broad as `later` or broader.
    project, domain = earlier.key[1:] if earlier.source.scoped else (None, None)
    later_project, later_domain = later.key[1:] if later.source.scoped else (None, None)
    return project in (None, later_project) and domain in (None, later_domain)


def _one_name_reaches_both(first: Row, second: Row) -> bool:
    if first.source is second.source:
        return first.key.name == second.key.name
    return second.source.canonical_name(first.name) == second.source.canonical_name(
        second.name
    ) or first.source.canonical_name(second.name) == first.source.canonical_name(first.name)


def which_secret(
    name: NameArgument,
    /,
    *,
    json_output: JsonOutput = False,
    project: ProjectOption = None,
    domain: DomainOption = None,
    org: OrgOption = False,
    store_kind: OnlyStoreOption = None,
) -> int:
    """Show every place a lookup of NAME looks, in order, and which one wins; never a value.

    Statuses: found (this one wins), shadowed (has it, but a higher place won), absent,
    not asked (source off), error, not reached (below an error, a lookup stops there).
    Scoped sources (the file, the server) are searched project+domain, project,
    domain, then org-wide.
    """
    name = checked_name(name)
    with only_store(store_kind):
        places = explain(name, *lookup_scope(project, domain, org))
    if json_output:
        out().json(
            [
                {
                    "order": number,
                    "source": place.source,
                    "scope": place.scope,
                    "location": place.location,
                    "status": place.status,
                    "detail": place.detail,
                }
                for number, place in enumerate(places, 1)
            ]
        )
    else:
        from rich.table import Table

        styles = {"found": "bold green", "shadowed": "yellow", "error": "red", "hidden": "yellow"}
        table = Table(title=f"Where {name} is looked for, in order", show_header=True)
        table.add_column("#", justify="right")
        table.add_column("Status", no_wrap=True)
        table.add_column("Source", no_wrap=True)
        table.add_column("Scope", no_wrap=True)
        table.add_column("Location")
        for number, place in enumerate(places, 1):
            location = place.location + (f"\n{place.detail}" if place.detail else "")
            table.add_row(
                str(number),
                out().text(place.status, styles.get(place.status, "dim")),
                out().text(place.source),
                out().text(place.scope),
                out().text(location),
            )
        out().table(table)
        winner = next((place for place in places if place.status == "found"), None)
        shadowed = sum(place.status == "shadowed" for place in places)
        if winner is not None:
            extra = f"; {shadowed} shadowed place{'s' if shadowed > 1 else ''}" if shadowed else ""
            out().info(f"{name} comes from {winner.location}{extra}.", "green")
        elif any(place.status == "hidden" for place in places):
            out().info(f"{name} is hidden by the context: a lookup finds nothing.", "yellow")
        elif any(place.status == "error" for place in places):
            out().info(f"A lookup of {name} fails: see the error above.", "red")
        else:
            out().info(f"No source has {name}.", "yellow")
    if any(place.status == "found" for place in places):
        return EXIT_OK
    if any(place.status == "error" for place in places):
        return EXIT_SOURCE_FAILED
    return EXIT_NOT_FOUND
