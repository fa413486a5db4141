"""Tokens (`kind = "tokens"`): secrets minted on demand, from their declarations
(`[tokens.NAME]` tables of the config file, or `declare_tokens(...)` in code).

Unscoped: a declaration belongs to the process. A name that is not declared is MISSING at
the cost of two dict lookups; a declared one is the current token, minted when first
needed and reused until shortly before it expires (`_tokens.cache`). It comes after the
config file and before Prefect 1's file and the server in the default order: env and
context lookups stay as fast as before, and a token lookup never asks the server.

Nothing is stored: `set`/`delete` refuse, `ls` lists the declared names, `which` and the
"not found" message name where a declaration would be. Minting failures are
`SecretSourceError`s naming the token and its endpoint (`_tokens.base`).
"""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.missing import MISSING
from prefect_secrets._tokens.registry import (
    declared_names,
    declared_token,
    read_secret,
    where_declared,
)
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from prefect_secrets._tokens.base import MintedToken, Token

__all__ = ["TokenSource"]


class TokenSource(SecretSource):
    """The declared tokens, minted on demand."""

    kind = "tokens"
    scoped = False
    blocking_io = True

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        token = declared_token(key[0], config.document)
        if token is None:
            return MISSING
        return self.minted(token, config).value

    async def alookup(self, key: SecretKey, config: SourceConfig) -> Any:
        token = declared_token(key[0], config.document)
        if token is None:
            return MISSING
        from prefect_secrets._tokens.cache import MINTED, refuse_cycles

        refuse_cycles(token.name)
        settings = config.settings
        minted = await MINTED.aget(
            token,
            read_secret,
            timeout=settings.timeout,
            retries=settings.retries,
            deadline=_deadline(config),
        )
        return minted.value

    def minted(self, token: Token, config: SourceConfig) -> MintedToken:
        """A fresh token for `token` (cached, or minted now)."""
        # Loaded with the first declared token: threads and the flight's pool cost
        # milliseconds that a process without tokens never pays.
        from prefect_secrets._tokens.cache import MINTED, refuse_cycles

        refuse_cycles(token.name)
        settings = config.settings
        return MINTED.get(
            token,
            read_secret,
            timeout=settings.timeout,
            retries=settings.retries,
            deadline=_deadline(config),
        )

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        return [org_key(name) for name in declared_names(config.document)]

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        document = config.document
        if declared_token(key[0], document) is None:
            return f"token declarations ([tokens.{key[0]}] in {document.path}, declare_tokens)"
        return f"token {key[0]} ({where_declared(key[0], document)})"

    def check(self, config: SourceConfig) -> str:
        count = len(declared_names(config.document))
        return f"{count} token{'s' if count != 1 else ''} declared (minted below, under Tokens)"


def _deadline(config: SourceConfig) -> float:
    # A mint may take two exchanges (discovery, then the token; a service-account key, then
    # impersonation), each within the remote stores' bound. Imported here: the remote
    # stores' module loads threads, which a lookup of an undeclared name never needs.
    from prefect_secrets._sources.remote import deadline_of

    return 2 * deadline_of(config.settings)
