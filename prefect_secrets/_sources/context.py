"""In-process secrets: `secrets_context()` overrides, then `context.secrets`."""

from __future__ import annotations

from prefect_secrets._config import Config
from prefect_secrets._context import _overrides, context, override_names
from prefect_secrets._sentinel import MISSING
from prefect_secrets._sources.base import SecretKey, SecretSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["ContextSource"]


class ContextSource(SecretSource):
    kind = "context"

    def lookup(self, key: SecretKey, config: Config) -> Any:
        # context_value(), inlined: this runs first in every lookup.
        value = _overrides.get().get(key[0], MISSING)
        if value is MISSING:
            return context._secrets._data.get(key[0], MISSING)
        return value

    def place(self, key: SecretKey, config: Config) -> str:
        if key.name in override_names():
            return f"context: secrets_context override of {key.name}"
        if key.name in context.secrets:
            return f"context: context.secrets[{key.name!r}]"
        return "context (secrets_context overrides, then context.secrets)"
