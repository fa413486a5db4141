"""In-process secrets: `secrets_context()` overrides, then `context.secrets`.

A value `HIDDEN` hides the secret (the lookup loops stop there: "not found"); a
`Failing` value makes this source raise `SecretSourceError` for that name.
"""

from __future__ import annotations

from prefect_secrets._context import (
    HIDDEN,
    Failing,
    context,
    override_names,
    overrides,
    process_secrets,
)
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._core.missing import MISSING
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["ContextSource"]


class ContextSource(SecretSource):
    kind = "context"
    blocking_io = False

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        # Runs first in every lookup: the two dict reads, without helpers.
        value = overrides.get().get(key[0], MISSING)
        if value is MISSING:
            value = process_secrets.get(key[0], MISSING)
            if value is MISSING:
                return value
        if type(value) is Failing:
            raise SecretSourceError(
                f"secret {key[0]!r}: context: {value.message}",
                source=self.kind,
                place=self.place(key, config),
            )
        return value

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        names = dict.fromkeys([*override_names(), *context.secrets])
        return [org_key(name) for name in names if self.lookup_quietly(name) is not HIDDEN]

    def lookup_quietly(self, name: str) -> Any:
        """What the context holds for `name` (MISSING, HIDDEN, a `Failing`, a value)."""
        value = overrides.get().get(name, MISSING)
        return process_secrets.get(name, MISSING) if value is MISSING else value

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        held = self.lookup_quietly(key.name)
        if key.name in override_names():
            if held is HIDDEN:
                return f"context: {key.name} hidden by secrets_context(hide=...)"
            return f"context: secrets_context override of {key.name}"
        if key.name in context.secrets:
            if held is HIDDEN:
                return f"context: {key.name} hidden (context.secrets[{key.name!r}] is HIDDEN)"
            return f"context: context.secrets[{key.name!r}]"
        return "context (secrets_context overrides, then context.secrets)"
