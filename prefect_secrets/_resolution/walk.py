"""The one walk of the precedence: which sources a lookup asks, for which keys, in what order.

Sources in the order of the setting `sources` (default: context, env,
mounted, file, prefect1-file, server; see `_sources.registry`). Within a
scoped source (file, server), the scopes are tried most specific first:
project+domain, project, domain, org-wide. Unscoped sources are
per-process or per-deployment (the env of one deployment is already its
scope), so they are asked for the name alone and answer for every scope.

The first place that has the secret wins. A source that fails stops the
lookup with `SecretSourceError`: a lower source's value is never returned in
place of a higher source's unknown one, and a failure is never reported as
"not found".

Everything that needs the order asks here: `resolve` and `resolve_many`
(`_async`, and `_sync` generated from it), `explain` (`which`), the "not
found" message, and `ls`'s shadowing.
"""

from __future__ import annotations

from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import PrefectSecretsError, SecretNotFound, UnsupportedBySource
from prefect_secrets._sources.registry import active_sources, last_sources
from prefect_secrets.sources import SecretKey, SecretSource, org_key

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "active_sources",
    "hidden",
    "keys_for",
    "last_sources",
    "not_found",
    "pin_refused",
    "places_in_order",
    "rank",
    "version_not_found",
]


def keys_for(
    source: SecretSource, name: str, project: str | None, domain: str | None, config: SourceConfig
) -> list[SecretKey]:
    """The keys `source` is asked for, in order: every scope of the chain for scoped
    sources, the name alone for the others."""
    if not source.scoped:
        return [org_key(name)]
    chain = config.scope_chain(project, domain)
    if len(chain) == 1:  # org-wide only (no scope asked or set): one key, as above
        return [org_key(name)]
    return [SecretKey(name, p, d) if p or d else org_key(name) for p, d in chain]


def places_in_order(
    name: str, project: str | None, domain: str | None, config: SourceConfig
) -> Iterator[tuple[SecretSource, SecretKey]]:
    """Every (source, key) a lookup of `name` asks, in order."""
    for source in active_sources(config):
        for key in keys_for(source, name, project, domain, config):
            yield source, key


def rank(
    source: SecretSource,
    key: SecretKey,
    project: str | None,
    domain: str | None,
    config: SourceConfig,
) -> tuple[int, int]:
    """Where (source, key) comes in a lookup in the scope `project`/`domain`: lower first.
    Scoped keys outside that scope's chain come after every key in it."""
    sources = active_sources(config)
    position = sources.index(source) if source in sources else len(sources)
    if not source.scoped:
        return position, 0
    chain = config.scope_chain(project, domain)
    scope = (key.project, key.domain)
    return position, chain.index(scope) if scope in chain else len(chain)


def not_found(
    names: Sequence[str], project: str | None, domain: str | None, config: SourceConfig
) -> SecretNotFound:
    """The error for missing `names`, listing every place searched for the first one."""
    searched = places_in_order(names[0], project, domain, config)
    places = [source.place(key, config) for source, key in searched]
    return SecretNotFound(names[0], places, also_missing=names[1:])


def hidden(name: str, source: SecretSource, key: SecretKey, config: SourceConfig) -> SecretNotFound:
    """The error for a secret hidden by the context (`secrets_context(hide=...)`, `HIDDEN`):
    the lookup stops there, whatever the sources below hold."""
    return SecretNotFound(name, [f"{source.place(key, config)} (a lookup stops there)"])


def version_not_found(
    name: str,
    version: str,
    project: str | None,
    domain: str | None,
    config: SourceConfig,
    holder: tuple[SecretSource, SecretKey] | None = None,
) -> PrefectSecretsError:
    """The error for a pinned `version` of `name` that no source answered.

    `holder`: the versioned source (and key) that holds `name` but not that version;
    the lookup stopped there. Without one, every place searched is listed, and when no
    source in the order keeps versions, that is the error (a pin cannot be honoured).
    """
    if holder is not None:
        source, key = holder
        place = f"{source.place(key, config)} (holds the secret, not this version)"
        return SecretNotFound(name, [place], version=version)
    places = []
    for source, key in places_in_order(name, project, domain, config):
        kept = "" if source.versioned else " (keeps no versions)"
        places.append(f"{source.place(key, config)}{kept}")
    if not any(source.versioned for source in active_sources(config)):
        kinds = ", ".join(source.kind for source in active_sources(config))
        return UnsupportedBySource(
            f"secret {name!r} is pinned to version {version!r}, but no source in the order "
            f"({kinds}) keeps versions: add a store that does (aws, gcp, vault, azure) to "
            "the setting `sources`, or remove the pin"
        )
    return SecretNotFound(name, places, version=version)


def pin_refused(
    name: str, version: str, source: SecretSource, key: SecretKey, config: SourceConfig
) -> UnsupportedBySource:
    """The error for a pinned version of a secret that a source without versions holds,
    higher in the order than any store with versions: its value would be "latest"."""
    return UnsupportedBySource(
        f"secret {name!r} is pinned to version {version!r}, but {source.place(key, config)} "
        f"holds it and source {source.kind!r} keeps no versions: the pin cannot be honoured "
        f"there (remove the pin, or the secret from {source.kind!r})"
    )
