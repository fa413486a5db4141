"""`SourceConfig`: the file and settings one lookup sees, read at most once and only if needed.

A lookup answered by the context or the environment never reads the file;
one that gets further stats the config file once, however many sources need
the settings. Every source receives this object (it is part of the public
source contract, `prefect_secrets.sources`).
"""

from __future__ import annotations

from prefect_secrets._config.file import (
    ConfigDocument,
    ConfigFile,
    config_file,
    config_path,
    warn_if_readable_by_others,
)
from prefect_secrets._config.settings import Settings, load_settings
from prefect_secrets._config.source_settings import SourceSettings, load_source_settings
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv, reader
from prefect_secrets._core.errors import PrefectSecretsError

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from prefect_secrets._config.layout import Scope
    from prefect_secrets._config.settings import Setting

    class _HasSettings(Protocol):
        """A source, as far as its settings go (the contract is in `prefect_secrets.sources`)."""

        @property
        def kind(self) -> str: ...

        @property
        def setting_specs(self) -> tuple[Setting, ...]: ...


__all__ = [
    "HOT_ENV_VARS",
    "SourceConfig",
    "forget_known_order",
    "known_order",
    "on_order_change",
    "read_hot_environment",
]


class SourceConfig:
    """What a source may consult during one lookup: the config file and the settings.

    Created per lookup; properties are computed on first use. Every lookup
    creates one, so it is as cheap as an object gets: no __init__ and no
    slots; the class attributes below stand in for "not read yet".
    """

    _document: ConfigDocument | None = None
    _settings: Settings | None = None
    #: The raw values of `HOT_ENV_VARS`, read once per lookup (by `source_order`, or by
    #: the registry's fast path); None until read.
    environment: tuple[object, ...] | None = None

    @property
    def path(self) -> str:
        """Where the config file is (it may not exist)."""
        return config_path()

    @property
    def document(self) -> ConfigDocument:
        """The config file's current contents (empty when there is no file)."""
        document = self._document
        if document is None:
            document = self._document = self._file().read()
        return document

    def _file(self) -> ConfigFile:
        # A lookup has read `HOT_ENV_VARS` already, which include every env var the path
        # depends on: one dict read instead of reading three env vars again.
        environment = self.environment
        if environment is None:
            return config_file(config_path())
        found = _file_of_environment.get(environment)
        if found is None:
            if len(_file_of_environment) >= 64:
                _file_of_environment.clear()
            found = _file_of_environment[environment] = config_file(config_path())
        return found

    @property
    def settings(self) -> Settings:
        """Env vars > the file's [settings] > defaults."""
        settings = self._settings
        if settings is None:
            document = self.document
            settings = load_settings(document)
            if document.mode & 0o077:  # the call only for a file others can read
                # Kept only once accepted: with strict_permissions every later use refuses too.
                warn_if_readable_by_others(document, strict=settings.strict_permissions)
            self._settings = settings
            environment = self.environment
            if environment is None:
                environment = self.environment = read_hot_environment()
            if known_order[0] != environment or known_order[1] is not settings.sources:
                _remember_sources(environment, settings)
        return settings

    def source_order(self) -> tuple[str, ...] | None:
        """The `sources` setting (None: the built-in order), read without the file when
        the environment is as it was at the last reading of the settings.

        Deciding which sources to ask comes before asking any: reading the file
        for it would cost every env lookup a `stat` (2 us here, the whole lookup
        costs 2 us), so the order read last is kept until the environment
        changes or a lookup reads the settings anyway (every lookup that gets
        past the env vars does, and so does every write of this library).
        """
        if self._settings is not None:
            return self._settings.sources
        if self.environment is None:
            self.environment = read_hot_environment()
        if known_order[0] == self.environment:
            return known_order[1]
        try:
            return self.settings.sources
        except PrefectSecretsError:
            # A config file that cannot be read (or a bad setting in it) must not stop
            # the sources above the file from answering, as before `sources` existed:
            # order by the env var alone; the file source reports the error when reached.
            return _env_order()

    def source_settings(self, source: _HasSettings) -> SourceSettings:
        """The settings of `source` (its `setting_specs`): env vars `PREFECT_SECRETS_<KIND>_<NAME>`
        > the file's `[settings.<kind>]` > defaults."""
        self.settings  # noqa: B018 - the file's permissions and [settings] are checked first
        return load_source_settings(self.document, source.kind, source.setting_specs)

    def scope_chain(self, project: str | None, domain: str | None) -> list[Scope]:
        """The scopes a lookup tries, most specific first, ending with org-wide.

        `project`/`domain` are the secret's own; None takes the settings' default
        ("" means none, whatever the settings say). project+domain, then
        project, then domain, then org-wide: the order Flyte's secret manager uses.
        """
        settings = self.settings
        project = project if project is not None else settings.project
        domain = domain if domain is not None else settings.domain
        if not project and not domain:  # the common case, on every scoped lookup
            return [(None, None)]
        chain: list[Scope] = []
        if project and domain:
            chain.append((project, domain))
        if project:
            chain.append((project, None))
        if domain:
            chain.append((None, domain))
        chain.append((None, None))
        return chain

    @property
    def checked_document(self) -> ConfigDocument:
        """`document`, once its permissions are known to be acceptable.

        Secure files (the usual case) skip reading the settings, which only
        matter here to decide between warning and refusing.
        """
        document = self.document
        if document.mode & 0o077:
            self.settings  # noqa: B018 - warns, or raises with strict_permissions
        return document

    @classmethod
    def of(cls, document: ConfigDocument, settings: Settings) -> SourceConfig:
        """A config over a document and settings already read (by `doctor`)."""
        config = cls()
        config._document, config._settings = document, settings
        return config

    def __repr__(self) -> str:
        return f"SourceConfig(path={config_path()!r})"


#: Read once per lookup (`SourceConfig.hot_environment`): the env prefix, then what
#: decides the `sources` setting (its env var, and where the file is).
HOT_ENV_VARS = (
    "PREFECT_SECRETS_ENV_PREFIX",
    "PREFECT_SECRETS_SOURCES",
    "PREFECT_SECRETS_CONFIG",
    "XDG_CONFIG_HOME",
    "HOME",
)
#: `read_hot_environment()`: the raw values of `HOT_ENV_VARS` (None where unset).
read_hot_environment = reader(HOT_ENV_VARS)
#: {`HOT_ENV_VARS` values: the config file there}.
_file_of_environment: dict[tuple[object, ...], ConfigFile] = {}

#: (`HOT_ENV_VARS` values, the `sources` setting) at the last reading of the settings.
known_order: tuple[tuple[object, ...] | None, tuple[str, ...] | None] = (None, None)


def _env_order() -> tuple[str, ...] | None:
    from prefect_secrets._config.settings import SETTINGS

    setting = SETTINGS["sources"]
    raw = getenv(setting.env_var)
    if raw is None:
        return None
    try:
        order: tuple[str, ...] = setting.parse(raw)
    except ValueError:
        return None  # reported by the settings when read
    return order


def _remember_sources(environment: tuple[object, ...], settings: Settings) -> None:
    global known_order
    if known_order != (environment, settings.sources):
        known_order = (environment, settings.sources)
        for listener in _order_listeners:
            listener()


_order_listeners: list[Callable[[], None]] = []


def on_order_change(listener: Callable[[], None]) -> None:
    """Call `listener` whenever a reading of the settings changes `known_order` (the
    registry drops what it derived from it)."""
    _order_listeners.append(listener)


def forget_known_order() -> None:
    """Make the next lookup read the `sources` setting afresh (after this library writes
    the file)."""
    global known_order
    known_order = (None, None)
    for listener in _order_listeners:
        listener()
