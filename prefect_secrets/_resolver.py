"""The resolution order, in one place, and the one loop that walks it.

| # | source        | where                                                       | scoped |
|---|---------------|-------------------------------------------------------------|--------|
| 1 | context       | `secrets_context(...)` overrides, then `context.secrets`    | no     |
| 2 | env           | env var `{PREFIX}__CONTEXT__SECRETS__{NAME}`                | no     |
| 3 | mounted       | `<dir>/<NAME>` in each of `mounted_dirs` (/run/secrets)     | no     |
| 4 | file          | the config file's secrets tables                            | yes    |
| 5 | prefect1-file | `[context.secrets]` of Prefect 1's `~/.prefect/config.toml` | no     |
| 6 | server        | the Prefect server's `Secret` blocks                        | yes    |

The first source that has the secret wins. Within a scoped source the
scopes are tried most specific first: project+domain, project, domain,
org-wide. Unscoped sources are per-process or per-deployment (the env of one
deployment is already its scope), so they answer for every scope. A source that fails stops the
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
from prefect_secrets._sources.mounted import MountedSource
from prefect_secrets._sources.server import ServerSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["SOURCES", "aresolve", "aresolve_many", "candidate_keys", "resolve", "resolve_many"]

#: Highest precedence first.
SOURCES: tuple[SecretSource, ...] = (
    ContextSource(),
    EnvSource(),
    MountedSource(),
    ConfigFileSource(),
    Prefect1FileSource(),
    ServerSource(),
)


def candidate_keys(
    source: SecretSource, name: str, project: str | None, domain: str | None, config: Config
) -> list[SecretKey]:
    """The keys `source` is asked for, in order: every scope of the chain for
    scoped sources, the name alone for the others (context, env, mounted,
    Prefect 1's file hold values for whatever scope the process runs in)."""
    if not source.scoped:
        return [org_key(name)]
    return [
        SecretKey(name, p, d) if p or d else org_key(name)
        for p, d in config.scope_chain(project, domain)
    ]


def resolve(
    name: str, project: str | None = None, domain: str | None = None
) -> tuple[Any, SecretSource, SecretKey]:
    """(stored value, source, key) of the first source, and scope, that has `name`.

    Sources in order; within a scoped source (file, server), project+domain,
    project, domain, then org-wide. The first hit wins.
    """
    config = Config()
    key = _org_keys.get(name) or org_key(name)  # org_key(), inlined for known names
    for source in SOURCES:
        if source.scoped:
            keys = candidate_keys(source, name, project, domain, config)
            if len(keys) > 1:
                # One call for the whole chain: the server answers it in one request.
                hits = source.lookup_many(keys, config)
                for scoped_key in keys:
                    if scoped_key in hits:
                        return hits[scoped_key], source, scoped_key
                continue
        value = source.lookup(key, config)
        if value is not MISSING:
            return value, source, key
    raise _not_found([name], project, domain, config)


async def aresolve(
    name: str, project: str | None = None, domain: str | None = None
) -> tuple[Any, SecretSource, SecretKey]:
    """`resolve` for async callers: the same loop, awaiting sources that do I/O."""
    config = Config()
    key = org_key(name)
    for source in SOURCES:
        if source.scoped:
            keys = candidate_keys(source, name, project, domain, config)
            if len(keys) > 1:
                hits = await source.alookup_many(keys, config)
                for scoped_key in keys:
                    if scoped_key in hits:
                        return hits[scoped_key], source, scoped_key
                continue
        value = await source.alookup(key, config)
        if value is not MISSING:
            return value, source, key
    raise _not_found([name], project, domain, config)


def resolve_many(
    names: Sequence[str],
    project: str | None = None,
    domain: str | None = None,
    *,
    all_required: bool = True,
) -> dict[str, Any]:
    """{name: stored value}; for each name, the same order of sources and scopes as `resolve`.

    Each source is asked once for every key still unresolved, so the server
    gets one request (per 200 block names) for everything local sources lack.
    Missing names raise SecretNotFound, or with `all_required=False` are left out.
    """
    config = Config()
    remaining = list(dict.fromkeys(names))
    found: dict[str, Any] = {}
    for source in SOURCES:
        if not remaining:
            break
        chains = {n: candidate_keys(source, n, project, domain, config) for n in remaining}
        hits = source.lookup_many([key for chain in chains.values() for key in chain], config)
        remaining = _take_first_hits(chains, hits, found)
    if remaining and all_required:
        raise _not_found(remaining, project, domain, config)
    return found


async def aresolve_many(
    names: Sequence[str],
    project: str | None = None,
    domain: str | None = None,
    *,
    all_required: bool = True,
) -> dict[str, Any]:
    """`resolve_many` for async callers."""
    config = Config()
    remaining = list(dict.fromkeys(names))
    found: dict[str, Any] = {}
    for source in SOURCES:
        if not remaining:
            break
        chains = {n: candidate_keys(source, n, project, domain, config) for n in remaining}
        keys = [key for chain in chains.values() for key in chain]
        hits = await source.alookup_many(keys, config)
        remaining = _take_first_hits(chains, hits, found)
    if remaining and all_required:
        raise _not_found(remaining, project, domain, config)
    return found


def _take_first_hits(
    chains: dict[str, list[SecretKey]], hits: dict[SecretKey, Any], found: dict[str, Any]
) -> list[str]:
    """Record each name's first hit in chain order; return the names still unresolved."""
    remaining = []
    for name, chain in chains.items():
        for key in chain:
            if key in hits:
                found[name] = hits[key]
                break
        else:
            remaining.append(name)
    return remaining


def _not_found(
    names: Sequence[str], project: str | None, domain: str | None, config: Config
) -> SecretNotFound:
    name = names[0]
    places = [
        source.place(key, config)
        for source in SOURCES
        for key in candidate_keys(source, name, project, domain, config)
    ]
    return SecretNotFound(name, places, also_missing=names[1:])
