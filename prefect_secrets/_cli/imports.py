"""`import` and `import-prefect1`: copy secrets from one store into another.

`import --from KIND --to KIND` copies between any two sources (a source that can
list its names into one that can write: TOML to Vault, the Prefect server to AWS);
`import-prefect1` copies Prefect 1's `[context.secrets]`, which no source lists.

A dry run unless `--apply`; never replaces a secret without `--overwrite`;
reports names only; copies values as written. Each value is read from the
source when it is written, one secret at a time, with progress on stderr
(`progress`); a Ctrl-C stops between two secrets, reports how many were
written, and exits 130.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from cyclopts import Parameter

from prefect_secrets._cli.common import StoreOption, in_scope, store
from prefect_secrets._cli.output import (
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_SOURCE_FAILED,
    EXIT_USAGE,
    CliError,
    out,
)
from prefect_secrets._cli.progress import (
    Interrupts,
    ProgressBar,
    ProgressOption,
    progress_enabled,
    stop_between_items,
)
from prefect_secrets._config.file import ConfigFile
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._core.errors import (
    PrefectSecretsError,
    SecretSourceError,
    UnsupportedBySource,
)
from prefect_secrets._sources.prefect1 import PREFECT1_LABEL
from prefect_secrets._sources.registry import available_kinds, source_of_kind
from prefect_secrets.sources import MISSING, SecretKey, SecretSource, org_key

__all__ = ["copy_into", "import_between", "import_prefect1"]

ApplyOption = Annotated[
    bool, Parameter(help="Copy for real. Without it, only show what would be done.")
]
OverwriteOption = Annotated[
    bool, Parameter(help="Replace secrets that already exist in the target.")
]


def import_between(
    names: Annotated[
        tuple[str, ...],
        Parameter(help="Copy only these secrets (default: every secret the source lists)."),
    ] = (),
    /,
    *,
    from_kind: Annotated[
        str, Parameter(name="--from", help="The source to copy from: a source kind (file, ...).")
    ],
    to_kind: Annotated[
        str, Parameter(name="--to", help="The store to copy into: a source kind that can write.")
    ],
    apply: ApplyOption = False,
    overwrite: OverwriteOption = False,
    progress: ProgressOption = None,
) -> int:
    """Copy secrets from one store into another (--from file --to vault), scopes kept.

    A dry run unless --apply is given; secrets already in the target are kept unless
    --overwrite is given. Reports names only, never values.
    """
    config = SourceConfig()
    if from_kind == to_kind:
        raise CliError(f"--from and --to are both {from_kind}: nothing to copy", EXIT_USAGE)
    origin = _lister(from_kind, config)
    target = store(to_kind, config, doing="write")
    wanted = set(names)
    keys = [key for key in origin.names(config) if not wanted or key.name in wanted]
    unknown = sorted(wanted - {key.name for key in keys})
    if unknown:
        raise CliError(f"not in {from_kind}: {', '.join(unknown)}", EXIT_NOT_FOUND)
    if not keys:
        out().info(f"{from_kind} holds no secrets: nothing to import.")
        return EXIT_OK
    doing = "Copying" if apply else "Dry run: would copy"
    out().info(f"{doing} {len(keys)} secret(s) from {from_kind} into {to_kind}:", "bold")
    # Each value is read when it is written: a slow source shows progress, and a Ctrl-C
    # leaves every secret read so far written.
    rows, code = copy_into(
        target,
        dict.fromkeys(keys),
        config,
        apply=apply,
        overwrite=overwrite,
        read=lambda key: origin.lookup(key, config),
        progress=progress,
    )
    _print_rows(rows, apply)
    return _report_interrupt(rows, code)


def _lister(kind: str, config: SourceConfig) -> SecretSource:
    try:
        origin = source_of_kind(kind, config)
    except PrefectSecretsError:
        if kind not in available_kinds():
            known = ", ".join(available_kinds())
            raise CliError(f"--from {kind}: no such source (known: {known})", EXIT_USAGE) from None
        raise
    if type(origin).names is SecretSource.names:
        raise UnsupportedBySource(f"source {kind!r} cannot list its secrets")
    return origin


def _print_rows(rows: list[tuple[str, str]], apply: bool) -> None:
    from rich.table import Table

    table = Table(show_header=True)
    table.add_column("Name", style="blue", no_wrap=True)
    table.add_column("Action")
    for name, action in rows:
        table.add_row(out().text(name), out().text(action))
    out().table(table)
    if not apply:
        out().info("Dry run: nothing was written. Run again with --apply to copy.", "yellow")


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
    apply: ApplyOption = False,
    overwrite: OverwriteOption = False,
    progress: ProgressOption = None,
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
    rows, code = copy_into(
        target, secrets, config, apply=apply, overwrite=overwrite, progress=progress
    )
    _print_rows(rows, apply)
    if code == EXIT_INTERRUPTED:
        return _report_interrupt(rows, code)
    if apply and code == EXIT_OK:
        out().note(
            "lookups still read the Prefect 1 file if it stays in place; once you have "
            'checked the copy, turn it off with prefect1_config = "" in [settings]'
        )
    return code


def copy_into(
    target: SecretSource,
    secrets: Mapping[str, Any] | Mapping[SecretKey, Any],
    config: SourceConfig,
    *,
    apply: bool,
    overwrite: bool,
    read: Callable[[SecretKey], Any] | None = None,
    progress: bool | None = False,
) -> tuple[list[tuple[str, str]], int]:
    """Copy `secrets` (name or key -> value; a name is org-wide) into `target`: the rows
    (name, action) and the exit code. Names that the target would store as one (a server
    folds case) are skipped, all of them.

    `read`: reads each value when it is about to be written (the values of `secrets`
    are then ignored; MISSING: gone from the source, skipped). A first Ctrl-C stops
    after the secret in hand (every write is whole), a second at once; either way the
    rows say what was written and the code is `EXIT_INTERRUPTED`."""
    keyed = {
        key if isinstance(key, SecretKey) else org_key(key): value for key, value in secrets.items()
    }
    doing = "Copying" if apply else "Checking"
    bar = ProgressBar(doing, len(keyed), enabled=progress_enabled(progress))
    rows: list[tuple[str, str]] = []  # one per secret done, appended as each is
    with bar, stop_between_items("secret") as interrupts:
        try:
            code = _copy_each(
                target, keyed, config, (apply, overwrite), read, rows, bar, interrupts
            )
        except KeyboardInterrupt:  # the second Ctrl-C: during a write, perhaps
            code = EXIT_INTERRUPTED
            if len(rows) < len(keyed):
                name = list(keyed)[len(rows)].name
                rows.append((name, "interrupted: may or may not have been written"))
    return rows, code


def _report_interrupt(rows: list[tuple[str, str]], code: int) -> int:
    if code == EXIT_INTERRUPTED:
        written = sum(action.startswith(("copied", "replaced")) for _, action in rows)
        out().error(
            f"interrupted: {written} secret(s) written, each whole; the others were not "
            "copied (run the command again to copy them)"
        )
    return code


def _copy_each(
    target: SecretSource,
    keyed: dict[SecretKey, Any],
    config: SourceConfig,
    flags: tuple[bool, bool],
    read: Callable[[SecretKey], Any] | None,
    rows: list[tuple[str, str]],
    bar: ProgressBar,
    interrupts: Interrupts,
) -> int:
    apply, overwrite = flags
    by_stored_name: dict[tuple[str, str | None, str | None], list[str]] = {}
    for key in keyed:
        stored = (target.canonical_name(key.name), key.project, key.domain)
        by_stored_name.setdefault(stored, []).append(key.name)
    code = EXIT_OK
    for key, value in keyed.items():
        if interrupts.stop:
            return EXIT_INTERRUPTED
        bar.step(key.name, 1)
        name = key.name + in_scope(key.project, key.domain)
        stored_name = target.canonical_name(key.name)
        # The server names its blocks: say which one each name becomes.
        item = f"{_item(target)} '{stored_name}'" if stored_name != key.name else ""
        stored = (stored_name, key.project, key.domain)
        clash = [other for other in by_stored_name[stored] if other != key.name]
        if clash:
            rows.append((name, f"skipped: {', '.join(clash)} also maps to {item or stored_name}"))
            continue
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
            if read is not None:
                value = read(key)
                if value is MISSING:
                    rows.append((name, "skipped: no longer in the source"))
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
    return EXIT_INTERRUPTED if interrupts.stop else code


def _item(target: SecretSource) -> str:
    # The server names its blocks; other stores just spell the name their way.
    return "block" if target.kind == "server" else "as"
