"""The layout of the config file: which tables hold what, checked once per change, and
where a table or key is written (for errors that name the line).

    [settings]                           settings (checked by `settings`)
    [context.secrets]                    org-wide secrets
    [project.<p>.secrets]                project p
    [domain.<d>.secrets]                 domain d
    [project.<p>.domain.<d>.secrets]     project p in domain d
    [tokens.<NAME>]                      a token's declaration (checked by `_tokens.registry`)
"""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.names import validate_name, validate_scope

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    #: (project, domain); None for "not scoped by it".
    Scope = tuple[str | None, str | None]

    class Located(Protocol):
        """What the checks need of a document: its data and where things are in it."""

        data: dict[str, Any]

        def line(self, table: str, key: str | None = None) -> int | None: ...


__all__ = ["line_of", "secret_tables", "table_of"]


def table_of(project: str | None, domain: str | None) -> str:
    """The TOML table that holds the secrets of one scope."""
    if project and domain:
        return f"project.{project}.domain.{domain}.secrets"
    if project:
        return f"project.{project}.secrets"
    if domain:
        return f"domain.{domain}.secrets"
    return "context.secrets"


def line_of(text: str, table: str, key: str | None = None) -> int | None:
    """Find where `[table]` (and `key` in it) is written in TOML `text`.

    tomllib gives no positions for valid documents, and error messages must
    name the line at fault; this handles the forms people write: a `[table]`
    header followed by `key = ...`, and dotted `table.key = ...` keys.
    """
    header = f"[{table}]"
    in_table = table == ""  # "" is the root table, before any header
    table_line = None
    for number, raw_line in enumerate(text.splitlines(), 1):
        stripped = raw_line.strip()
        if stripped.startswith("["):
            compact = stripped.replace(" ", "")
            in_table = compact.startswith(header)
            # A table written only through its subtables ([project.etl.secrets]
            # for [project.etl]) is "at" its first subtable.
            if table_line is None and (in_table or compact.startswith(f"[{table}.")):
                table_line = number
                if key is None:
                    return number
            continue
        if key is None:
            continue
        head = _key_of(stripped)
        if (in_table and head == key) or head.replace(" ", "") in (
            f"{table}.{key}",
            f'{table}."{key}"',
        ):
            return number
    return table_line


def _key_of(line: str) -> str:
    """The key a `key = value` line assigns, quotes removed ("a=b" = 1 -> a=b)."""
    if line[:1] in ("'", '"'):
        quote = line[0]
        end = line.find(quote, 1)
        while quote == '"' and end > 0 and line[end - 1] == "\\":
            end = line.find(quote, end + 1)
        if end > 0 and quote == "'":
            return line[1:end]
        if end > 0:
            import orjson  # TOML's basic-string escapes are JSON's (\n, \", \u00e9)

            try:
                return str(orjson.loads(line[: end + 1]))
            except orjson.JSONDecodeError:
                return line[1:end]
    return line.split("=", 1)[0].strip()


def secret_tables(
    document: Located, error: Callable[[str], Exception], *, strict: bool
) -> dict[Scope, dict[str, Any]]:
    """Check the layout and collect every secrets table by scope; refuse the file otherwise."""
    data = document.data
    top_level = {"settings", "context", "project", "domain", "tokens"}
    if strict:
        for key in data:
            if key not in top_level:
                raise error(
                    f"{_at(document.line(key) or document.line('', key))}unknown table "
                    f"{key!r} (expected: {', '.join(sorted(top_level))})"
                )
    tables: dict[Scope, dict[str, Any]] = {}

    def table(value: object, path: str, allowed: set[str] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            head, _, last = path.rpartition(".")
            line = document.line(head, last) if head else document.line("", last)
            where = _at(line or document.line(path))
            raise error(f"{where}'{path}' must be a table, not {_toml_type(value)}")
        if allowed is not None and strict:
            for key in value:
                if key not in allowed:
                    raise error(
                        f"{_at(document.line(path, key) or document.line(f'{path}.{key}'))}"
                        f"unknown key {key!r} in [{path}] (expected: {', '.join(sorted(allowed))})"
                    )
        return value

    def secrets_of(parent: dict[str, Any], path: str, scope: Scope) -> None:
        if "secrets" not in parent:
            return
        secrets = table(parent["secrets"], f"{path}.secrets", None)
        for name in secrets:
            try:
                validate_name(name)
            except ValueError as exc:
                raise error(f"{_at(document.line(f'{path}.secrets', name))}{exc}") from None
        tables[scope] = secrets

    def scope_name(value: str, path: str, what: str) -> str:
        try:
            return validate_scope(value, what=what)
        except ValueError as exc:
            raise error(f"{_at(document.line(path))}{exc}") from None

    if "settings" in data:
        table(data["settings"], "settings", None)
    if "context" in data:
        secrets_of(
            table(data["context"], "context", {"secrets"} if strict else None),
            "context",
            (None, None),
        )
    if not strict:
        return tables
    for project, body in table(data.get("project", {}), "project", None).items():
        path = f"project.{project}"
        scope_name(project, path, "project")
        body = table(body, path, {"secrets", "domain"})
        secrets_of(body, path, (project, None))
        for domain, inner in table(body.get("domain", {}), f"{path}.domain", None).items():
            inner_path = f"{path}.domain.{domain}"
            scope_name(domain, inner_path, "domain")
            secrets_of(table(inner, inner_path, {"secrets"}), inner_path, (project, domain))
    for domain, body in table(data.get("domain", {}), "domain", None).items():
        path = f"domain.{domain}"
        scope_name(domain, path, "domain")
        secrets_of(table(body, path, {"secrets"}), path, (None, domain))
    return tables


def _at(line: int | None) -> str:
    return f"line {line}: " if line else ""


def _toml_type(value: object) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        list: "an array",
    }
    return names.get(type(value), f"a {type(value).__name__}")
