"""In-process secrets: `secrets_context()` overrides, then `context.secrets`."""

from __future__ import annotations

from prefect_secrets._context import context, override_names, overrides, process_secrets
from prefect_secrets._core import TYPE_CHECKING
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
            return process_secrets.get(key[0], MISSING)
        return value

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        return [org_key(name) for name in dict.fromkeys([*override_names(), *context.secrets])]

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        if key.name in override_names():
            return f"context: secrets_context override of {key.name}"
        if key.name in context.secrets:
            return f"context: context.secrets[{key.name!r}]"
        return "context (secrets_context overrides, then context.secrets)"
