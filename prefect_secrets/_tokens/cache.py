"""Minted tokens, kept in memory until shortly before they expire, minted once however many
callers ask at the same time.

A token is reused while more than max(30 s, 10% of its lifetime) remains: a caller never
gets one that expires while it is being used, and a refresh happens before, not after,
the expiry. (So a token that lives 30 s or less is minted at every lookup.) Concurrent
lookups of one token, in threads or tasks, share one mint (`_core.flight`); the flight
checks the cache again before minting, so a caller that missed the cache just as a mint
finished does not mint a second time. Keyed by the declaration itself: an edited
declaration mints afresh. Never on disk; the repr shows counts only.

While a token is minted, the names being minted are in a context variable: a declaration
whose secrets need the token itself (directly or through another token) is an error, not
a wait on itself.
"""

from __future__ import annotations

from contextvars import ContextVar

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SettingsError
from prefect_secrets._core.flight import FlightTimeout, SingleFlight

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from prefect_secrets._tokens.base import MintedToken, SecretOf, Token

__all__ = ["MINTED", "MIN_MARGIN", "MintedTokens", "is_fresh", "refuse_cycles"]

#: A token is refreshed when less than max(MIN_MARGIN, MARGIN_SHARE x lifetime) remains.
MIN_MARGIN = 30.0
MARGIN_SHARE = 0.1

_minting: ContextVar[tuple[str, ...]] = ContextVar("prefect_secrets_minting", default=())


def is_fresh(minted: MintedToken, now: float | None = None) -> bool:
    """Whether `minted` may still be handed out."""
    margin = max(MIN_MARGIN, MARGIN_SHARE * minted.lifetime)
    return minted.remaining(now) > margin


def refuse_cycles(name: str) -> None:
    """`SettingsError` when `name` is being minted by this very chain of lookups."""
    chain = _minting.get()
    if name in chain:
        path = " -> ".join((*chain[chain.index(name) :], name))
        raise SettingsError(f"token {name!r} needs itself to be minted ({path}): break the cycle")


class MintedTokens:
    def __init__(self) -> None:
        self._minted: dict[Token, MintedToken] = {}
        self._flight = SingleFlight(max_workers=8)

    def fresh(self, token: Token) -> MintedToken | None:
        minted = self._minted.get(token)
        return minted if minted is not None and is_fresh(minted) else None

    def get(
        self, token: Token, secret_of: SecretOf, *, timeout: float, retries: int, deadline: float
    ) -> MintedToken:
        """A fresh token: the cached one, or one minted now (by this caller or another)."""
        minted = self.fresh(token)
        if minted is not None:
            return minted
        try:
            found: MintedToken = self._flight.run(
                token, self._work(token, secret_of, timeout, retries), deadline
            )
        except FlightTimeout:
            raise token.error(f"no token within {deadline:g} s") from None
        return found

    async def aget(
        self, token: Token, secret_of: SecretOf, *, timeout: float, retries: int, deadline: float
    ) -> MintedToken:
        """`get` for async callers: the mint runs on a worker thread, the loop never waits."""
        minted = self.fresh(token)
        if minted is not None:
            return minted
        try:
            found: MintedToken = await self._flight.arun(
                token, self._work(token, secret_of, timeout, retries), deadline
            )
        except FlightTimeout:
            raise token.error(f"no token within {deadline:g} s") from None
        return found

    def _work(
        self, token: Token, secret_of: SecretOf, timeout: float, retries: int
    ) -> Callable[[], Any]:
        def mint() -> MintedToken:
            minted = self.fresh(token)
            if minted is not None:
                return minted
            _minting.set((*_minting.get(), token.name))  # this run's own context
            minted = token.mint(secret_of, timeout=timeout, retries=retries)
            if len(self._minted) >= 1024:  # declarations edited many times: drop the oldest
                del self._minted[next(iter(self._minted))]
            self._minted[token] = minted
            return minted

        return mint

    def forget(self, token: Token | None = None) -> None:
        """Drop the cached token of `token` (all when None): the next lookup mints."""
        if token is None:
            self._minted.clear()
        else:
            self._minted.pop(token, None)

    def __repr__(self) -> str:
        return f"MintedTokens(cached={len(self._minted)})"


#: The process's minted tokens.
MINTED = MintedTokens()
