"""`aresolve` and `aresolve_many`: the lookup loops, written once, async.

`_sync.py` (`resolve`, `resolve_many`) is generated from this file by
`python -m tests.support.unasync` (awaits and `a` prefixes removed), and a
test fails when the two differ: the sync and async paths cannot drift. Edit
this file, never `_sync.py`. The order they walk is decided in `walk`.
"""

from __future__ import annotations

from prefect_secrets._config.lookup import SourceConfig, read_hot_environment
from prefect_secrets._context import HIDDEN
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import UnsupportedBySource
from prefect_secrets._core.missing import MISSING
from prefect_secrets._resolution.walk import (
    active_sources,
    hidden,
    keys_for,
    last_sources,
    not_found,
    pin_refused,
    version_not_found,
)
from prefect_secrets._sources.env import NamedEnvVar
from prefect_secrets.sources import SecretKey, SecretSource, org_key

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["aresolve", "aresolve_env_var", "aresolve_many", "aresolve_version"]


async def aresolve(
    name: str, project: str | None = None, domain: str | None = None
) -> tuple[Any, SecretSource, SecretKey]:
    """(stored value, source, key) of the first source, and scope, that has `name`.

    Raises `SecretNotFound` naming every place searched, or the
    `SecretSourceError` of the first source that failed.
    """
    config = SourceConfig()
    key = org_key(name)
    # The order's fast path: one env read and one comparison (see the registry).
    environment = config.environment = read_hot_environment()
    last = last_sources[0]
    sources = last[1] if last[0] == environment else active_sources(config)
    for source in sources:
        if source.scoped:
            keys = keys_for(source, name, project, domain, config)
            if len(keys) > 1:
                # One call for the whole chain: a server answers it in one request.
                hits = await source.alookup_many(keys, config)
                for scoped_key in keys:
                    if scoped_key in hits:
                        return hits[scoped_key], source, scoped_key
                continue
        value = await source.alookup(key, config)
        if value is not MISSING:
            if value is HIDDEN:  # only the context holds it: checked only on a hit
                raise hidden(name, source, key, config)
            return value, source, key
    raise not_found([name], project, domain, config)


async def aresolve_env_var(
    name: str, variable: str, project: str | None = None, domain: str | None = None
) -> tuple[Any, SecretSource, SecretKey]:
    """`aresolve` for `Secret(name, env_var=variable)`: the context first (overrides,
    `hide`), then the env var `variable` if it is set, then the usual walk for `name`."""
    config = SourceConfig()
    key = org_key(name)
    for source in active_sources(config):
        if source.kind == "context":
            value = await source.alookup(key, config)
            if value is HIDDEN:
                raise hidden(name, source, key, config)
            if value is not MISSING:
                return value, source, key
    named = NamedEnvVar(variable)
    value = await named.alookup(key, config)
    if value is not MISSING:
        return value, named, key
    return await aresolve(name, project, domain)


async def aresolve_many(
    names: Sequence[str],
    project: str | None = None,
    domain: str | None = None,
    *,
    all_required: bool = True,
) -> dict[str, Any]:
    """{name: stored value}; for each name, the same order of sources and scopes as `aresolve`.

    Each source is asked once for every key still unresolved, so a server
    gets one request (per 200 names) for everything local sources lack.
    Missing names raise `SecretNotFound`, or with `all_required=False` are left out.
    """
    config = SourceConfig()
    remaining = list(dict.fromkeys(names))
    found: dict[str, Any] = {}
    hidden_names: list[str] = []  # hidden by the context: missing, whatever follows
    for source in active_sources(config):
        if not remaining:
            break
        chains = {n: keys_for(source, n, project, domain, config) for n in remaining}
        keys = [key for chain in chains.values() for key in chain]
        hits = await source.alookup_many(keys, config)
        remaining = []
        for name, chain in chains.items():
            hit = next((hits[key] for key in chain if key in hits), MISSING)
            if hit is MISSING:
                remaining.append(name)
            elif hit is HIDDEN:
                hidden_names.append(name)
            else:
                found[name] = hit
    if (remaining or hidden_names) and all_required:
        raise not_found([*hidden_names, *remaining], project, domain, config)
    return found


async def aresolve_version(
    name: str, version: str, project: str | None = None, domain: str | None = None
) -> tuple[Any, SecretSource, SecretKey]:
    """(stored value, source, key) of `version` of `name`: the usual order of sources and
    scopes, and the first place that holds `name` answers.

    That place must keep versions: a source without versions (env, a file, the
    server...) that holds `name` raises `UnsupportedBySource` naming itself, rather
    than hand out its only value as if it were `version`. A store with versions that
    holds `name` but not `version` raises `SecretNotFound` naming both.
    """
    config = SourceConfig()
    for source in active_sources(config):
        for key in keys_for(source, name, project, domain, config):
            if source.versioned:
                try:
                    value = await source.alookup_version(key, version, config)
                except UnsupportedBySource as exc:  # a version the store cannot have
                    raise UnsupportedBySource(
                        f"secret {name!r}, version {version!r}: {exc}"
                    ) from None
                if value is not MISSING:
                    return value, source, key
            held = await source.alookup(key, config)
            if held is HIDDEN:
                raise hidden(name, source, key, config)
            if held is not MISSING:
                if source.versioned:
                    raise version_not_found(name, version, project, domain, config, (source, key))
                raise pin_refused(name, version, source, key, config)
    raise version_not_found(name, version, project, domain, config)
