"""`Config`: the file and settings that one lookup sees, read at most once and only if needed.

A lookup answered by the context or the environment never reads the file;
one that gets further stats the config file once, however many sources
need the settings.
"""

from __future__ import annotations

from prefect_secrets._config_file import (
    ConfigDocument,
    config_file,
    config_path,
    warn_if_readable_by_others,
)
from prefect_secrets._settings import Settings, load_settings

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from prefect_secrets._config_file import Scope

__all__ = ["Config"]


class Config:
    """Created per lookup; properties are computed on first use.

    Every lookup creates one, so it is as cheap as an object gets: no
    __init__ and no slots; the class attributes below stand in for "not read
    yet" until an instance sets its own.
    """

    _document: ConfigDocument | None = None
    _settings: Settings | None = None

    @property
    def document(self) -> ConfigDocument:
        """The config file's current contents (empty when there is no file)."""
        document = self._document
        if document is None:
            document = self._document = config_file(config_path()).read()
        return document

    @property
    def settings(self) -> Settings:
        """Env vars > the file's [settings] > defaults."""
        settings = self._settings
        if settings is None:
            document = self.document
            settings = self._settings = load_settings(document)
            warn_if_readable_by_others(document, strict=settings.strict_permissions)
        return settings

    def scope_chain(self, project: str | None, domain: str | None) -> list[Scope]:
        """The scopes a lookup tries, most specific first, ending with org-wide.

        `project`/`domain` are the secret's own; None takes the settings' default.
        project+domain, then project, then domain, then org-wide: the order
        Flyte's secret manager uses.
        """
        settings = self.settings
        project = project if project is not None else settings.project
        domain = domain if domain is not None else settings.domain
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
