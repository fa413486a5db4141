"""Environment variables: `{PREFIX}__CONTEXT__SECRETS__{NAME}`, read at call time."""

from __future__ import annotations

from prefect_secrets._config import Config
from prefect_secrets._environ import getenv
from prefect_secrets._names import env_var_name
from prefect_secrets._sentinel import MISSING
from prefect_secrets._settings import DEFAULT_ENV_PREFIX, ENV_PREFIX_ENV_VAR, env_prefix
from prefect_secrets._sources.base import SecretKey, SecretSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["EnvSource"]

# One str object per variable name under the default prefix, so its hash is
# computed once. A custom prefix is rare: its names are formatted per lookup.
_default_var_names: dict[str, str] = {}


class EnvSource(SecretSource):
    kind = "env"

    def lookup(self, key: SecretKey, config: Config) -> Any:
        # env_prefix() and env_var_name(), inlined for the common case (no
        # prefix set): this runs in every lookup that the context misses.
        name = key[0]
        if getenv(ENV_PREFIX_ENV_VAR) is None:
            var = _default_var_names.get(name)
            if var is None:
                var = env_var_name(DEFAULT_ENV_PREFIX, name)
                if len(_default_var_names) < 4096:
                    _default_var_names[name] = var
        else:
            var = env_var_name(env_prefix(), name)
        value = getenv(var)
        return MISSING if value is None else value

    def place(self, key: SecretKey, config: Config) -> str:
        return f"env var {env_var_name(env_prefix(), key.name)}"
