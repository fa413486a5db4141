"""Environment variables: `{PREFIX}__CONTEXT__SECRETS__{NAME}`, read at call time."""

from __future__ import annotations

import os

from prefect_secrets._config.settings import DEFAULT_ENV_PREFIX, ENV_PREFIX_ENV_VAR, env_prefix
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv
from prefect_secrets._core.errors import UnsupportedBySource
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import env_var_name, is_valid_name
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["EnvSource", "NamedEnvVar"]

# One str object per variable name under the default prefix, so its hash is
# computed once. A custom prefix is rare: its names are formatted per lookup.
_default_var_names: dict[str, str] = {}


class EnvSource(SecretSource):
    kind = "env"
    blocking_io = False

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        # env_prefix() and env_var_name(), inlined for the common case (no
        # prefix set): this runs in every lookup that the context misses. The
        # prefix comes from the env read the lookup made already (one read less:
        # 5% of a 2 us lookup, measured).
        name = key[0]
        environment = config.environment
        if (getenv(ENV_PREFIX_ENV_VAR) if environment is None else environment[0]) is None:
            var = _default_var_names.get(name)
            if var is None:
                var = env_var_name(DEFAULT_ENV_PREFIX, name)
                if len(_default_var_names) < 4096:
                    _default_var_names[name] = var
        else:
            var = env_var_name(env_prefix(), name)
        value = getenv(var)
        return MISSING if value is None else value

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        prefix = env_var_name(env_prefix(), "")
        return [
            org_key(variable[len(prefix) :])
            for variable in sorted(os.environ)
            if variable.startswith(prefix) and is_valid_name(variable[len(prefix) :])
        ]

    def write(self, key: SecretKey, value: Any, config: SourceConfig) -> str:
        raise UnsupportedBySource(
            f"source 'env' cannot store secrets: env vars belong to the process that runs the "
            f"flow; set {env_var_name(env_prefix(), key.name)} in its environment (for a "
            "deployment, from the platform's secret store), or choose another --store"
        )

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        return f"env var {env_var_name(env_prefix(), key.name)}"


class NamedEnvVar(SecretSource):
    """One env var of any name, for `Secret(name, env_var="MY_VAR")` (Prefect 1's
    `EnvVarSecret`). Not a kind of the `sources` setting: such a handle asks it right
    after the context source."""

    kind = "env_var"
    blocking_io = False

    def __init__(self, variable: str) -> None:
        self.variable = variable

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        value = getenv(self.variable)
        return MISSING if value is None else value

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        return f"env var {self.variable} (env_var= of {key.name})"
