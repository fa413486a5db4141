"""`import-prefect1`: copy Prefect 1's `[context.secrets]` into a store that can hold them.

A dry run unless `--apply`; never replaces a secret without `--overwrite`;
reports names only; copies values as written.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from cyclopts import Parameter

from prefect_secrets._cli.common import StoreOption, store
from prefect_secrets._cli.output import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_SOURCE_FAILED,
    EXIT_USAGE,
    CliError,
    out,
)
from prefect_secrets._config.file import ConfigFile
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._sources.prefect1 import PREFECT1_LABEL
from prefect_secrets.sources import SecretSource, org_key

__all__ = ["copy_into", "import_prefect1"]


def import_prefect1(
    path: Annotated[
        str | None,
        Parameter(
            help="Prefect 1's config file. Default: the prefect1_config setting "
            "(~/.prefect/config.toml)."
        ),
    ] = None,
    /,
    *,
    server: Annotated[
        bool,
        Parameter(help="Copy into Prefect Secret blocks (the same as --store server)."),
    ] = False,
    store_kind: StoreOption = None,
    apply: Annotated[
        bool, Parameter(help="Copy for real. Without it, only show what would be done.")
    ] = False,
    overwrite: Annotated[
        bool, Parameter(help="Replace secrets that already exist in the target.")
    ] = False,
) -> int:
    """Copy the [context.secrets] of a Prefect 1 config file into the local file (default),
    the server (--server) or another store (--store KIND).

    A dry run unless --apply is given; secrets already in the target are kept unless
    --overwrite is given. Reports names only. Values are copied as written: Prefect 1's
    ${...} interpolation and $ENV expansion are not applied.
    """
    config = SourceConfig()
    if server and store_kind not in (None, "server"):
        raise CliError(f"--server and --store {store_kind} disagree: give one", EXIT_USAGE)
    target = store("server" if server else store_kind or "file", config, doing="write")
    setting = config.settings.prefect1_config
    source_path = os.path.expanduser(
        path or setting or os.path.join("~", ".prefect", "config.toml")
    )
    document = ConfigFile(source_path, label=PREFECT1_LABEL, strict=False).read()
    if not document.exists:
        raise CliError(f"no Prefect 1 config file at {source_path}", EXIT_NOT_FOUND)
    secrets = dict(document.secrets)
    if not secrets:
        out().info(f"{source_path} has no [context.secrets]: nothing to import.")
        return EXIT_OK
    doing = "Copying" if apply else "Dry run: would copy"
    into = target.stored_place(org_key(next(iter(secrets))), config)
    out().info(
        f"{doing} the [context.secrets] of {source_path} into {target.kind} ({into}):", "bold"
    )
    rows, code = copy_into(target, secrets, config, apply=apply, overwrite=overwrite)
    from rich.table import Table

    table = Table(show_header=True)
    table.add_column("Name", style="blue", no_wrap=True)
    table.add_column("Action")
    for name, action in rows:
        table.add_row(out().text(name), out().text(action))
    out().table(table)
    if not apply:
        out().info("Dry run: nothing was written. Run again with --apply to copy.", "yellow")
    elif code == EXIT_OK:
        out().note(
            "lookups still read the Prefect 1 file if it stays in place; once you have "
            'checked the copy, turn it off with prefect1_config = "" in [settings]'
        )
    return code


def copy_into(
    target: SecretSource,
    secrets: dict[str, Any],
    config: SourceConfig,
    *,
    apply: bool,
    overwrite: bool,
) -> tuple[list[tuple[str, str]], int]:
    """Copy org-wide `secrets` (name -> value) into `target`: the rows (name, action) and
    the exit code. Names that the target would store as one (a server folds case) are
    skipped, all of them."""
    by_stored_name: dict[str, list[str]] = {}
    for name in secrets:
        by_stored_name.setdefault(target.canonical_name(name), []).append(name)
    rows: list[tuple[str, str]] = []
    code = EXIT_OK
    for name, value in secrets.items():
        stored_name = target.canonical_name(name)
        # The server names its blocks: say which one each name becomes.
        item = f"block '{stored_name}'" if stored_name != name else ""
        clash = [other for other in by_stored_name[stored_name] if other != name]
        if clash:
            rows.append((name, f"skipped: {', '.join(clash)} also maps to {item or stored_name}"))
            continue
        key = org_key(name)
        try:
            exists = target.exists(key, config)
            if exists and not overwrite:
                verb = "skipped" if apply else "would skip"
                rows.append((name, f"{verb}: {item + ' ' if item else ''}exists (--overwrite)"))
                continue
            if not apply:
                new = "replace" if exists else ("create" if item else "copy")
                rows.append((name, f"would {new}{' ' + item if item else ''}"))
                continue
            outcome = target.write(key, value, config)
        except UnstorableValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        except SecretSourceError as exc:
            rows.append((name, "failed"))
            out().error(str(exc))
            code = EXIT_SOURCE_FAILED
            continue
        if outcome == "replaced":
            rows.append((name, f"replaced {item}" if item else "copied (replaced)"))
        else:
            rows.append((name, f"copied to {item}" if item else "copied"))
    return rows, code
