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
    """Created per lookup; properties are computed on first use."""

    __slots__ = ("_document", "_settings")

    def __init__(self) -> None:
        self._document: ConfigDocument | None = None
        self._settings: Settings | None = None

    @property
    def document(self) -> ConfigDocument:
        """The config file's current contents (empty when there is no file)."""
        if self._document is None:
            self._document = config_file(config_path()).read()
        return self._document

    @property
    def settings(self) -> Settings:
        """Env vars > the file's [settings] > defaults."""
        if self._settings is None:
            document = self.document
            self._settings = load_settings(document)
            warn_if_readable_by_others(document, strict=self._settings.strict_permissions)
        return self._settings
