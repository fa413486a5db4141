"""`SecurityContext`: what a flow or deployment declares about its security, as a value.

    ctx = SecurityContext(
        run_as=Identity(k8s_service_account="etl-runner"),
        secrets=[Secret("DB_PASSWORD"), Secret("API_KEY", project="etl")],
    )

    @flow
    @ctx.require               # under @flow: checked when the run starts, before any task
    def etl() -> None: ...

Why a decorator under `@flow`, not a hook: Prefect's `on_running` hooks run when the
run is already Running, and an exception in a hook is logged, not raised, so the run
would go on with secrets missing. Code that runs as the flow function's first lines
fails the run the ordinary way: Failed, the error as its state message, no task run.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._secret import Secret
from prefect_secrets._security.identity import Identity
from prefect_secrets._security.preflight import apreflight, preflight
from prefect_secrets._tokens.base import Token
from prefect_secrets._tokens.registry import declare_tokens

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["SecurityContext"]


@dataclass(frozen=True, init=False)
class SecurityContext:
    """Who a flow runs as (`run_as`), and the secrets and tokens it needs.

    `secrets`: `Secret` handles (or names), as the flow reads them: scope, version and
    `as_env_var` kept. `tokens`: `OAuth2ClientCredentials`, `GcpIdToken`,
    `KubernetesServiceAccountToken`, declared (`declare_tokens`) by the preflight, then
    minted as `Secret(token.name)`. Holds no value: safe to pickle, log and store.
    """

    run_as: Identity | None
    secrets: tuple[Secret, ...]
    tokens: tuple[Token, ...]

    def __init__(
        self,
        run_as: Identity | None = None,
        secrets: Sequence[Secret | str] = (),
        tokens: Sequence[Token] = (),
    ) -> None:
        if run_as is not None and not isinstance(run_as, Identity):
            raise TypeError(f"run_as must be an Identity, not {type(run_as).__name__}")
        if isinstance(secrets, (str, Secret)):
            raise TypeError("secrets must be a sequence of Secret handles (or names)")
        handles = [s if isinstance(s, Secret) else Secret(s) for s in secrets]
        for token in tokens:
            if not isinstance(token, Token):
                raise TypeError(
                    "tokens must be OAuth2ClientCredentials, GcpIdToken or "
                    f"KubernetesServiceAccountToken, not {type(token).__name__}"
                )
        object.__setattr__(self, "run_as", run_as)
        object.__setattr__(self, "secrets", tuple(dict.fromkeys(handles)))
        object.__setattr__(self, "tokens", tuple(tokens))

    def required(self) -> tuple[Secret, ...]:
        """Every secret a run needs: the declared secrets, then each token's `Secret`."""
        tokens = (Secret(token.name) for token in self.tokens)
        return tuple(dict.fromkeys((*self.secrets, *tokens)))

    def preflight(self) -> None:
        """Resolve every declared secret and token once; raise ONE error naming every
        missing secret and every failing source (`SecretNotFound` when all that is wrong
        is missing names, else `SecretSourceError`). Never a value."""
        self._declare_tokens()
        preflight(self.required())

    async def apreflight(self) -> None:
        """`preflight` for async code."""
        self._declare_tokens()
        await apreflight(self.required())

    def require(self, fn: F) -> F:
        """Decorate a flow function (under `@flow`) so that every run starts with
        `preflight`: a run missing a secret fails before its first task, naming them all."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def checked_async(*args: Any, **kwargs: Any) -> Any:
                await self.apreflight()
                return await fn(*args, **kwargs)

            wrapper: Any = checked_async
        else:

            @functools.wraps(fn)
            def checked(*args: Any, **kwargs: Any) -> Any:
                self.preflight()
                return fn(*args, **kwargs)

            wrapper = checked
        wrapper.__security_context__ = self  # for tools that build deployments from flows
        return wrapper  # type: ignore[no-any-return]

    def _declare_tokens(self) -> None:
        if self.tokens:
            declare_tokens(*self.tokens)

    def __repr__(self) -> str:
        fields = [f"run_as={self.run_as!r}"] if self.run_as is not None else []
        if self.secrets:
            fields.append(f"secrets={list(self.secrets)!r}")
        if self.tokens:
            names = [token.name for token in self.tokens]
            fields.append(f"tokens={names!r}")
        return f"SecurityContext({', '.join(fields)})"
