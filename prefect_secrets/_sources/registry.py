"""Which sources exist and which are asked, in what order: built-in kinds and plug-ins.

| # | kind          | where it looks                                              | scoped |
|---|---------------|-------------------------------------------------------------|--------|
| 1 | context       | `secrets_context(...)` overrides, then `context.secrets`    | no     |
| 2 | env           | env var `{PREFIX}__CONTEXT__SECRETS__{NAME}`                | no     |
| 3 | mounted       | `<dir>/<NAME>` in each of `mounted_dirs` (/run/secrets)     | no     |
| 4 | file          | the config file's secrets tables                            | yes    |
| 5 | tokens        | the declared tokens (`[tokens.NAME]`, `declare_tokens`)     | no     |
| 6 | prefect1-file | `[context.secrets]` of Prefect 1's `~/.prefect/config.toml` | no     |
| 7 | server        | the Prefect server's `Secret` blocks                        | yes    |

That is the default order. The setting `sources` (a list of kinds, highest
precedence first) enables, disables and orders sources, built-in and plug-in
alike. A plug-in is a `SecretSource` subclass that a package registers under
the entry-point group `prefect_secrets.sources`, named by its kind; it is
imported only when `sources` names it, so the default order never scans
entry points. An unknown kind, or a plug-in that fails to import, is one
`SettingsError` naming the setting's origin.

One instance per kind per process: sources keep their caches on themselves.
"""

from __future__ import annotations

from importlib import import_module

from prefect_secrets._config import lookup
from prefect_secrets._config.lookup import read_hot_environment
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SettingsError
from prefect_secrets.sources import SecretSource

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from prefect_secrets._config.lookup import SourceConfig

__all__ = [
    "BUILTIN_KINDS",
    "DEFAULT_ORDER",
    "ENTRY_POINT_GROUP",
    "active_sources",
    "available_kinds",
    "last_sources",
    "source_of_kind",
]

ENTRY_POINT_GROUP = "prefect_secrets.sources"

#: kind -> "module:class" of the built-in sources, in the default order.
BUILTIN_KINDS = {
    "context": "prefect_secrets._sources.context:ContextSource",
    "env": "prefect_secrets._sources.env:EnvSource",
    "mounted": "prefect_secrets._sources.mounted:MountedSource",
    "file": "prefect_secrets._sources.file:ConfigFileSource",
    "tokens": "prefect_secrets._sources.tokens:TokenSource",
    "prefect1-file": "prefect_secrets._sources.prefect1:Prefect1FileSource",
    "server": "prefect_secrets._sources.server:ServerSource",
    # Shipped, but asked only when `sources` names them (each needs its extra installed).
    "aws": "prefect_secrets._sources.aws:AwsSource",
    "gcp": "prefect_secrets._sources.gcp:GcpSource",
    "vault": "prefect_secrets._sources.vault:VaultSource",
    "azure": "prefect_secrets._sources.azure:AzureSource",
    "keyring": "prefect_secrets._sources.keyring:KeyringSource",
    "block": "prefect_secrets._sources.block:BlockSource",
}
# Tokens come after the local places and before Prefect 1's file and the server: env and
# context lookups stay as fast as before (an undeclared name costs the token source two
# dict lookups, and only after every local place missed), and a token lookup never asks
# the server.
DEFAULT_ORDER = ("context", "env", "mounted", "file", "tokens", "prefect1-file", "server")

_instances: dict[str, SecretSource] = {}
_orders: dict[tuple[str, ...] | None, tuple[SecretSource, ...]] = {}


def active_sources(config: SourceConfig) -> tuple[SecretSource, ...]:
    """The sources a lookup asks, highest precedence first (the `sources` setting)."""
    environment = config.environment
    if environment is None:
        environment = config.environment = read_hot_environment()
    order = config.source_order()
    sources = _orders.get(order)
    if sources is None:
        kinds = DEFAULT_ORDER if order is None else order
        sources = _orders[order] = tuple(_source(kind, config) for kind in kinds)
    # Confirmed by a reading of the settings in this environment: lookups may take it
    # from `last_sources` at the cost of one comparison (see `_resolution._async`).
    if lookup.known_order == (environment, order):
        last_sources[0] = (environment, sources)
    return sources


#: [(raw values of `HOT_ENV_VARS`, the sources in force there)]: the lookups' fast path
#: (two calls fewer than `active_sources`, and no hashing: 10% of a 2 us env lookup,
#: measured with callgrind). One tuple, replaced whole, so that a reader in another
#: thread never pairs one environment with another's sources. Forgotten whenever a
#: reading of the settings finds another `sources`.
last_sources: list[tuple[object, tuple[SecretSource, ...]]] = [(None, ())]


def _forget_last_sources() -> None:
    last_sources[0] = (None, ())


lookup.on_order_change(_forget_last_sources)


def source_of_kind(kind: str, config: SourceConfig) -> SecretSource:
    """The process's source of `kind`, whether or not `sources` enables it (for
    `prefect-secrets set --store KIND`)."""
    return _source(kind, config)


def available_kinds() -> list[str]:
    """Every kind that can be named in `sources`: built-ins, then installed plug-ins."""
    return [*BUILTIN_KINDS, *sorted(set(_plugin_entry_points()) - set(BUILTIN_KINDS))]


def _source(kind: str, config: SourceConfig) -> SecretSource:
    source = _instances.get(kind)
    if source is None:
        cls = _load(kind, config)
        source = _instances.setdefault(kind, cls())
    return source


def _load(kind: str, config: SourceConfig) -> type[SecretSource]:
    target = BUILTIN_KINDS.get(kind)
    where = _origin_of_sources(config)
    if target is not None:
        module, _, name = target.partition(":")
        loaded: object = getattr(import_module(module), name)
    else:
        entry_point = _plugin_entry_points().get(kind)
        if entry_point is None:
            raise SettingsError(
                f"{where}: unknown source kind {kind!r} (known: {', '.join(available_kinds())}; "
                f"plug-ins register under the entry-point group {ENTRY_POINT_GROUP!r})"
            )
        try:
            loaded = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any import failure of a plug-in is reported
            raise SettingsError(
                f"{where}: source {kind!r} ({entry_point.value}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    if not (isinstance(loaded, type) and issubclass(loaded, SecretSource)):
        raise SettingsError(f"{where}: source {kind!r} is not a SecretSource subclass")
    if getattr(loaded, "kind", kind) != kind:
        raise SettingsError(
            f"{where}: source {kind!r} is registered under another kind "
            f"({loaded.kind!r}); the entry point's name must be its kind"
        )
    return loaded


def _origin_of_sources(config: SourceConfig) -> str:
    try:
        return f"sources ({config.settings.origin('sources')})"
    except SettingsError:
        return "sources"


def _plugin_entry_points() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points

    return {entry_point.name: entry_point for entry_point in entry_points(group=ENTRY_POINT_GROUP)}
