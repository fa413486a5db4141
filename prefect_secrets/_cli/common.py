"""Arguments and helpers shared by the commands: names, scopes, stores, values."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from cyclopts import Parameter

from prefect_secrets._cli.output import EXIT_USAGE, CliError
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._core.errors import PrefectSecretsError, UnsupportedBySource
from prefect_secrets._core.names import validate_name, validate_scopes
from prefect_secrets._resolution.explain import scope_label
from prefect_secrets._sources.registry import available_kinds, source_of_kind
from prefect_secrets.sources import SecretKey, SecretSource, org_key

__all__ = [
    "DomainOption",
    "JsonOutput",
    "NameArgument",
    "OnlyStoreOption",
    "OrgOption",
    "ProjectOption",
    "StoreOption",
    "YesOption",
    "in_scope",
    "key_in_scope",
    "lookup_scope",
    "only_store",
    "parse_json",
    "read_value",
    "store",
    "type_name",
    "value_text",
]

SOURCES_ENV_VAR = "PREFECT_SECRETS_SOURCES"

NameArgument = Annotated[
    str, Parameter(help="The secret's name: 1-255 letters, digits, '_' and '-'.")
]
JsonOutput = Annotated[bool, Parameter(name="--json", help="Print JSON, for scripts.")]
ProjectOption = Annotated[
    str | None,
    Parameter(
        name="--project",
        help="The project scope (default: the project setting, PREFECT_SECRETS_PROJECT).",
    ),
]
DomainOption = Annotated[
    str | None,
    Parameter(
        name="--domain",
        help="The domain scope (default: the domain setting, PREFECT_SECRETS_DOMAIN).",
    ),
]
OrgOption = Annotated[
    bool,
    Parameter(name="--org", help="Org-wide, whatever the project/domain settings say."),
]
StoreOption = Annotated[
    str | None,
    Parameter(
        name="--store",
        help="Where to write: a source kind that can store secrets (file, server, ...). "
        "Default: file.",
    ),
]
OnlyStoreOption = Annotated[
    str | None,
    Parameter(
        name="--store",
        help="Only this source (a kind: file, server, aws, vault, keyring, ...), whether "
        "or not the sources setting lists it.",
    ),
]
YesOption = Annotated[
    bool,
    Parameter(
        name=["--yes", "-y"],
        help="Replace or delete without asking. Needed when there is no terminal to ask on.",
    ),
]


def key_in_scope(
    name: str, project: str | None, domain: str | None, org: bool, *, config: SourceConfig
) -> SecretKey:
    """The key a command writes or deletes: --project/--domain, else the project/domain
    settings; --org: org-wide whatever the settings say."""
    try:
        validate_name(name)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    if org:
        if project or domain:
            raise CliError("--org cannot be combined with --project or --domain", EXIT_USAGE)
        return org_key(name)
    project, domain = _checked(project, domain)
    settings = config.settings
    project = project if project is not None else settings.project
    domain = domain if domain is not None else settings.domain
    return SecretKey(name, project, domain) if project or domain else org_key(name)


def lookup_scope(
    project: str | None, domain: str | None, org: bool
) -> tuple[str | None, str | None]:
    """The scope to pass to lookups: None takes the settings' default, "" means none."""
    if org:
        if project or domain:
            raise CliError("--org cannot be combined with --project or --domain", EXIT_USAGE)
        return "", ""
    return _checked(project, domain)


def _checked(project: str | None, domain: str | None) -> tuple[str | None, str | None]:
    try:
        return validate_scopes(project, domain)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def checked_name(name: str) -> str:
    try:
        return validate_name(name)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def in_scope(project: str | None, domain: str | None) -> str:
    """ " (project=etl)" for a scope, "" for org-wide."""
    label = scope_label(project, domain)
    return "" if label == "org" else f" ({label})"


def store(kind: str, config: SourceConfig, *, doing: str) -> SecretSource:
    """The source that `--store KIND` names, if it can do what is asked."""
    try:
        source = source_of_kind(kind, config)
    except PrefectSecretsError as exc:
        if kind not in available_kinds():
            raise CliError(
                f"--store {kind}: no such source (known: {', '.join(available_kinds())})",
                EXIT_USAGE,
            ) from None
        raise exc from None
    capability = {"write": "write", "delete": "delete"}[doing]
    if getattr(type(source), capability) is getattr(SecretSource, capability):
        raise UnsupportedBySource(f"source {kind!r} cannot {doing} secrets")
    return source


@contextmanager
def only_store(kind: str | None) -> Iterator[None]:
    """Within: lookups, `ls` and `which` ask the source `kind` only (None: as configured).

    The CLI is one command per process, so the `sources` setting's env var is the one
    switch that every layer (the walk, `explain`, the listing) already obeys.
    """
    if kind is None:
        yield
        return
    if kind not in available_kinds():
        known = ", ".join(available_kinds())
        raise CliError(f"--store {kind}: no such source (known: {known})", EXIT_USAGE)
    saved = os.environ.get(SOURCES_ENV_VAR)
    os.environ[SOURCES_ENV_VAR] = kind
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(SOURCES_ENV_VAR, None)
        else:
            os.environ[SOURCES_ENV_VAR] = saved


def type_name(value: Any) -> str:
    kinds = {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        dict: "object",
        list: "array",
        bytes: "bytes",
        type(None): "null",
    }
    return kinds.get(type(value), type(value).__name__)


def value_text(stored: Any) -> str:
    """A value as printed by `get --reveal`: strings as stored, the rest as JSON."""
    if isinstance(stored, str):
        return stored
    return json.dumps(stored, ensure_ascii=False, default=str)


def read_value(name: str, value: str | None) -> str:
    """The value from --value, a hidden prompt on a terminal, or stdin."""
    if value is not None:
        text = value
    elif sys.stdin is not None and sys.stdin.isatty():
        import getpass

        try:
            text = getpass.getpass(f"Value of secret {name!r} (input hidden): ")
        except EOFError:
            text = ""
    else:
        if sys.stdin is None:
            raise CliError(
                "no value: pass --value, pipe it on stdin, or run in a terminal", EXIT_USAGE
            )
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError:
            raise CliError("the value on stdin is not UTF-8 text", EXIT_USAGE) from None
        # `echo value | prefect-secrets set NAME` adds one newline that is not part of it.
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
    if not text:
        raise CliError(
            "the value is empty; nothing was saved (pass --value, pipe it on stdin, or "
            "type it at the prompt)",
            EXIT_USAGE,
        )
    return text


def parse_json(text: str) -> Any:
    def reject_constant(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: never the document.
        raise CliError(
            f"--json: the value is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}); nothing was saved",
            EXIT_USAGE,
        ) from None
    except ValueError as exc:
        raise CliError(f"--json: {exc}; nothing was saved", EXIT_USAGE) from None
