"""`ls --versions`: the versions each store with versions keeps of each secret; never values.

Rows come from `ls`'s inventory (so `--store`, `--project` and `--domain` work alike);
each row of a source that keeps versions is asked for its `version_history`. Sources
without versions (env, files, the server...) are named in one note, not listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_secrets._cli.output import EXIT_BAD_SETTING, EXIT_OK, EXIT_SOURCE_FAILED, out
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._core.errors import PrefectSecretsError, SecretSourceError, SettingsError

if TYPE_CHECKING:
    from prefect_secrets._cli.listing import Inventory

__all__ = ["show_versions"]


def show_versions(found: Inventory, *, json_output: bool, title: str) -> int:
    """Print every version of every listed secret held by a store with versions."""
    config = SourceConfig()
    rows: list[dict[str, object]] = []
    errors: list[PrefectSecretsError] = list(found.errors)
    unversioned: dict[str, int] = {}
    for row in found.rows:
        if not row.source.versioned:
            unversioned[row.source.kind] = unversioned.get(row.source.kind, 0) + 1
            continue
        try:
            history = row.source.version_history(row.key, config)
        except (SecretSourceError, SettingsError) as exc:
            errors.append(exc)
            continue
        base = {"name": row.name, "source": row.source.kind, "scope": row.scope}
        for version, created in history:
            rows.append({**base, "location": row.location, "version": version, "created": created})
    if json_output:
        out().json(rows)
    elif rows:
        from rich.table import Table

        table = Table(title=title, show_header=True)
        for column in ("Name", "Scope", "Source", "Version", "Created"):
            table.add_column(column, no_wrap=column != "Version")
        for entry in rows:
            cells = ("name", "scope", "source", "version", "created")
            table.add_row(*(out().text(str(entry[cell] or "")) for cell in cells))
        out().table(table)
    elif not errors:
        out().info("No versioned secrets found.")
    for kind, count in unversioned.items():
        out().note(
            f"source {kind!r} keeps no versions ({count} secret{'s' if count > 1 else ''} "
            "not listed here)"
        )
    for note in found.notes:
        out().note(note)
    for error in errors:
        out().error(str(error))
    if any(isinstance(error, SettingsError) for error in errors):
        return EXIT_BAD_SETTING
    return EXIT_SOURCE_FAILED if errors else EXIT_OK
