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
