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
from prefect_secrets._sources.base import SecretKey, SecretSource, _org_keys, org_key
from prefect_secrets._sources.context import ContextSource
from prefect_secrets._sources.environment import EnvSource
from prefect_secrets._sources.files import ConfigFileSource, Prefect1FileSource
from prefect_secrets._sources.server import ServerSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["SOURCES", "aresolve", "aresolve_many", "resolve", "resolve_many"]

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
    key = _org_keys.get(name) or org_key(name)  # org_key(), inlined for known names
    for source in SOURCES:
        value = source.lookup(key, config)
        if value is not MISSING:
            return value, source, key
    raise _not_found(key, config)


async def aresolve(name: str) -> tuple[Any, SecretSource, SecretKey]:
    """`resolve` for async callers: the same loop, awaiting sources that do I/O."""
    config = Config()
    key = org_key(name)
    for source in SOURCES:
        value = await source.alookup(key, config)
        if value is not MISSING:
            return value, source, key
    raise _not_found(key, config)


def resolve_many(names: Sequence[str], *, all_required: bool = True) -> dict[str, Any]:
    """{name: stored value}; the same order of sources as `resolve`, for each name.

    Each source is asked once for all the names still unresolved, so the
    server gets one request (per 200 names) for everything local sources lack.
    Missing names raise SecretNotFound, or with `all_required=False` are left out.
    """
    config = Config()
    remaining = [SecretKey(name) for name in dict.fromkeys(names)]
    found: dict[str, Any] = {}
    for source in SOURCES:
        if not remaining:
            break
        hits = source.lookup_many(remaining, config)
        found.update((key.name, value) for key, value in hits.items())
        remaining = [key for key in remaining if key not in hits]
    if remaining and all_required:
        raise _not_found(remaining[0], config, also_missing=remaining[1:])
    return found


async def aresolve_many(names: Sequence[str], *, all_required: bool = True) -> dict[str, Any]:
    """`resolve_many` for async callers."""
    config = Config()
    remaining = [SecretKey(name) for name in dict.fromkeys(names)]
    found: dict[str, Any] = {}
    for source in SOURCES:
        if not remaining:
            break
        hits = await source.alookup_many(remaining, config)
        found.update((key.name, value) for key, value in hits.items())
        remaining = [key for key in remaining if key not in hits]
    if remaining and all_required:
        raise _not_found(remaining[0], config, also_missing=remaining[1:])
    return found


def _not_found(
    key: SecretKey, config: Config, also_missing: Sequence[SecretKey] = ()
) -> SecretNotFound:
    places = [source.place(key, config) for source in SOURCES]
    return SecretNotFound(key.name, places, also_missing=[k.name for k in also_missing])
