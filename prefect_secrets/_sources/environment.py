"""Environment variables: `{PREFIX}__CONTEXT__SECRETS__{NAME}`, read at call time."""

from __future__ import annotations

from prefect_secrets._config import Config
from prefect_secrets._environ import getenv
from prefect_secrets._names import env_var_name
from prefect_secrets._sentinel import MISSING
from prefect_secrets._settings import env_prefix
from prefect_secrets._sources.base import SecretKey, SecretSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["EnvSource"]


class EnvSource(SecretSource):
    kind = "env"

    def lookup(self, key: SecretKey, config: Config) -> Any:
        value = getenv(env_var_name(env_prefix(), key.name))
        return MISSING if value is None else value

    def place(self, key: SecretKey, config: Config) -> str:
        return f"env var {env_var_name(env_prefix(), key.name)}"
