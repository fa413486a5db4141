"""The declared tokens: the config file's `[tokens.NAME]` tables, and `declare_tokens(...)`.

    [tokens.CRM_TOKEN]
    kind = "oauth2_client_credentials"      # or gcp_id_token, k8s_service_account_token
    ...

A table is read when its name is first looked up in each version of the file (the file is
re-read when it changes, like the rest of the config, so an edit applies at once); an
undeclared name costs two dict lookups. A name declared both in the file and in code is an
error, rather than one silently winning. Kinds are imported when a table names them, and
their SDKs only when a token is minted.

A mint needs other secrets (a client secret...): `read_secret(name)` resolves them through
the library, with the function that the resolution layer registers (`set_secret_reader`),
because this layer sits below it.
"""

from __future__ import annotations

from importlib import import_module

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SettingsError
from prefect_secrets._core.names import validate_name

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from prefect_secrets._config.file import ConfigDocument
    from prefect_secrets._tokens.base import Token

__all__ = [
    "KINDS",
    "declare_tokens",
    "declared_names",
    "declared_token",
    "read_secret",
    "set_secret_reader",
    "where_declared",
    "withdraw_tokens",
]

#: `kind` of a `[tokens.NAME]` table -> "module:class".
KINDS = {
    "oauth2_client_credentials": "prefect_secrets._tokens.oauth2:OAuth2ClientCredentials",
    "gcp_id_token": "prefect_secrets._tokens.gcp:GcpIdToken",
    "k8s_service_account_token": "prefect_secrets._tokens.kubernetes:KubernetesServiceAccountToken",
}

_in_code: dict[str, Token] = {}
#: (the document read last, {name: its declaration, or the SettingsError it makes}).
_in_file: list[tuple[object, dict[str, Any]]] = [(None, {})]
_reader: list[Callable[[str], Any]] = []


def declare_tokens(*tokens: Token) -> None:
    """Declare tokens in code: `Secret(token.name).get()` then mints one. Declaring a name
    again replaces its declaration (a notebook cell run twice)."""
    from prefect_secrets._tokens.base import Token

    for token in tokens:
        if not isinstance(token, Token):
            raise TypeError(
                f"declare_tokens takes tokens (OAuth2ClientCredentials, GcpIdToken, "
                f"KubernetesServiceAccountToken), not {type(token).__name__}"
            )
    for token in tokens:
        _in_code[token.name] = token


def withdraw_tokens(*names: str) -> None:
    """Forget tokens declared in code (all when no name is given)."""
    if not names:
        _in_code.clear()
    for name in names:
        _in_code.pop(name, None)


def declared_token(name: str, document: ConfigDocument) -> Token | None:
    """The declaration of `name`, or None; `SettingsError` for a bad one."""
    in_code = _in_code.get(name)
    tables = document.data.get("tokens")
    if tables is None:
        return in_code
    if not isinstance(tables, dict):
        raise SettingsError(f"{document.where('', 'tokens')}: 'tokens' must be a table")
    if name not in tables:
        return in_code
    if in_code is not None:
        raise SettingsError(
            f"token {name!r} is declared twice, in code (declare_tokens) and in "
            f"{document.where(f'tokens.{name}')} [tokens.{name}]: declare it once"
        )
    seen_document, parsed = _in_file[0]
    if seen_document is not document:
        parsed = {}
        _in_file[0] = (document, parsed)
    found = parsed.get(name)
    if found is None:
        try:
            found = _from_table(name, tables[name], document)
        except SettingsError as exc:
            found = exc
        parsed[name] = found
    if isinstance(found, SettingsError):
        raise found
    return found


def declared_names(document: ConfigDocument) -> list[str]:
    """Every declared token name: the file's, then those declared in code."""
    tables = document.data.get("tokens")
    in_file = list(tables) if isinstance(tables, dict) else []
    return [*in_file, *(name for name in _in_code if name not in in_file)]


def where_declared(name: str, document: ConfigDocument) -> str:
    tables = document.data.get("tokens")
    if isinstance(tables, dict) and name in tables:
        return f"[tokens.{name}] of {document.where(f'tokens.{name}')}"
    return "declare_tokens(...)"


def _from_table(name: str, table: object, document: ConfigDocument) -> Token:
    path = f"tokens.{name}"

    def where(key: str | None) -> str:
        return document.where(path, key)

    try:
        validate_name(name)
    except ValueError as exc:
        raise SettingsError(f"{where(None)}: [{path}] {exc}") from None
    if not isinstance(table, dict):
        raise SettingsError(f"{where(None)}: [{path}] must be a table")
    kind = table.get("kind")
    target = KINDS.get(kind) if isinstance(kind, str) else None
    if target is None:
        raise SettingsError(
            f"{where('kind' if 'kind' in table else None)}: [{path}] kind = {kind!r} is not a "
            f"kind of token (known: {', '.join(KINDS)})"
        )
    module, _, class_name = target.partition(":")
    token: Token = getattr(import_module(module), class_name).from_table(name, table, where)
    return token


def set_secret_reader(reader: Callable[[str], Any]) -> None:
    """How mints read other secrets: `reader(name)` -> stored value (the resolution's)."""
    _reader[:] = [reader]


def read_secret(name: str) -> Any:
    """The stored value of secret `name`, resolved through the library."""
    if not _reader:
        # Lookups come through the resolution, which registered its reader on import; a
        # token minted by other means (a test, doctor) imports it by name, not upwards.
        import_module("prefect_secrets._resolution")
    return _reader[0](name)
