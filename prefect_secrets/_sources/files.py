"""TOML files: ours (`[context.secrets]`), then Prefect 1's `~/.prefect/config.toml`."""

from __future__ import annotations

import os

from prefect_secrets._config import Config
from prefect_secrets._config_file import config_file, config_path, warn_if_readable_by_others
from prefect_secrets._sentinel import MISSING
from prefect_secrets._sources.base import SecretKey, SecretSource

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["ConfigFileSource", "Prefect1FileSource", "table_of"]


class ConfigFileSource(SecretSource):
    """The config file's secrets tables (see `_config_file` for where it is and its layout)."""

    kind = "file"
    scoped = True

    def lookup(self, key: SecretKey, config: Config) -> Any:
        document = config.checked_document
        if key[1] is None and key[2] is None:
            return document.secrets.get(key[0], MISSING)
        return document.scoped_secrets(key[1], key[2]).get(key[0], MISSING)

    def place(self, key: SecretKey, config: Config) -> str:
        return f"file {config_path()} [{table_of(key.project, key.domain)}] {key.name}"


def table_of(project: str | None, domain: str | None) -> str:
    """The TOML table that holds the secrets of one scope."""
    if project and domain:
        return f"project.{project}.domain.{domain}.secrets"
    if project:
        return f"project.{project}.secrets"
    if domain:
        return f"domain.{domain}.secrets"
    return "context.secrets"


class Prefect1FileSource(SecretSource):
    """`[context.secrets]` of Prefect 1's user config, so 1.x users' secrets keep working.

    Only that table is read. Values are taken as written: Prefect 1's
    `${...}` interpolation and `$ENV` expansion are not done.
    Turn it off with `prefect1_config = ""`.
    """

    kind = "prefect1-file"

    def lookup(self, key: SecretKey, config: Config) -> Any:
        path = config.settings.prefect1_config
        if path is None:
            return MISSING
        document = config_file(
            os.path.expanduser(path), label="Prefect 1 config file", strict=False
        ).read()
        warn_if_readable_by_others(document, strict=config.settings.strict_permissions)
        return document.secrets.get(key.name, MISSING)

    def place(self, key: SecretKey, config: Config) -> str:
        path = config.settings.prefect1_config
        if path is None:
            return f"Prefect 1 file: not read ({self.skip_reason(config)})"
        return f"Prefect 1 file {os.path.expanduser(path)} [context.secrets] {key.name}"

    def skip_reason(self, config: Config) -> str | None:
        if config.settings.prefect1_config is None:
            return 'prefect1_config = ""'
        return None
