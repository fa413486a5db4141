"""The resolution order, in one place, and the one loop that walks it.

| # | source        | where                                                   |
|---|---------------|---------------------------------------------------------|
| 1 | context       | `secrets_context(...)` overrides, then `context.secrets`|
| 2 | env           | env var `{PREFIX}__CONTEXT__SECRETS__{NAME}`            |
| 3 | file          | `[context.secrets]` of the config file                  |
| 4 | prefect1-file | `[context.secrets]` of Prefect 1's `~/.prefect/config.toml` |
| 5 | server        | the Prefect server's `Secret` block                     |

The first source that has the secret wins. A source that fails stops the
lookup with `SecretSourceError`: a lower source's value is never returned in
place of a higher source's unknown one, and a failure is never reported as
"not found".
"""

from __future__ import annotations

from prefect_secrets._config import Config
from prefect_secrets._errors import SecretNotFound
from prefect_secrets._sentinel import MISSING
from prefect_secrets._sources.base import SecretKey, SecretSource
from prefect_secrets._sources.context import ContextSource
from prefect_secrets._sources.environment import EnvSource
from prefect_secrets._sources.files import ConfigFileSource, Prefect1FileSource
from prefect_secrets._sources.server import ServerSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SOURCES", "aresolve", "resolve"]

#: Highest precedence first.
SOURCES: tuple[SecretSource, ...] = (
    ContextSource(),
    EnvSource(),
    ConfigFileSource(),
    Prefect1FileSource(),
    ServerSource(),
)


def resolve(name: str) -> tuple[Any, SecretSource, SecretKey]:
    """(stored value, source, key) of the first source that has `name`."""
    config = Config()
    key = SecretKey(name)
    for source in SOURCES:
        value = source.lookup(key, config)
        if value is not MISSING:
            return value, source, key
    raise _not_found(key, config)


async def aresolve(name: str) -> tuple[Any, SecretSource, SecretKey]:
    """`resolve` for async callers: the same loop, awaiting sources that do I/O."""
    config = Config()
    key = SecretKey(name)
    for source in SOURCES:
        value = await source.alookup(key, config)
        if value is not MISSING:
            return value, source, key
    raise _not_found(key, config)


def _not_found(key: SecretKey, config: Config) -> SecretNotFound:
    return SecretNotFound(key.name, [source.place(key, config) for source in SOURCES])
