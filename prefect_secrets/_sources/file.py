"""The config file's secrets tables (see `_config.file` for where it is and its layout)."""

from __future__ import annotations

from prefect_secrets._config.file import config_path
from prefect_secrets._config.layout import table_of
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.missing import MISSING
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

__all__ = ["ConfigFileSource"]


class ConfigFileSource(SecretSource):
    """`[context.secrets]` (org-wide) and the scoped tables of the config file."""

    kind = "file"
    scoped = True
    blocking_io = False

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        document = config.checked_document
        if key[1] is None and key[2] is None:
            return document.secrets.get(key[0], MISSING)
        return document.scoped_secrets(key[1], key[2]).get(key[0], MISSING)

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        tables = config.checked_document.tables
        return [
            SecretKey(name, project, domain) if project or domain else org_key(name)
            for (project, domain), secrets in tables.items()
            for name in secrets
        ]

    def write(self, key: SecretKey, value: Any, config: SourceConfig) -> str:
        return self.write_many({key: value}, config)[key]

    def write_many(
        self, values: Mapping[SecretKey, Any], config: SourceConfig, *, overwrite: bool = True
    ) -> dict[SecretKey, str]:
        # The writer (tomlkit, tempfile, locks) is loaded only by writes: lookups stay light.
        from prefect_secrets._config.store import write_secrets

        # One locked rewrite per table, however many names go into it.
        outcomes: dict[SecretKey, str] = {}
        by_table: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            by_table.setdefault(table_of(key.project, key.domain), {})[key.name] = value
        for table, table_values in by_table.items():
            written = write_secrets(
                config.path, table_values, overwrite=overwrite, table=table.split(".")
            )
            for key in values:
                if table_of(key.project, key.domain) == table:
                    outcomes[key] = written.outcomes[key.name]
        return outcomes

    def delete(self, key: SecretKey, config: SourceConfig) -> bool:
        from prefect_secrets._config.store import delete_secret

        return delete_secret(
            config.path, key.name, table=table_of(key.project, key.domain).split(".")
        )

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        return f"file {config_path()} [{table_of(key.project, key.domain)}] {key.name}"

    def stored_place(self, key: SecretKey, config: SourceConfig) -> str:
        from prefect_secrets._config.store import resolved_path

        return f"[{table_of(key.project, key.domain)}] of {resolved_path(config.path)}"
