"""`[context.secrets]` of Prefect 1's user config, so that 1.x users' secrets keep working.

Only that table is read. Values are taken as written: Prefect 1's `${...}`
interpolation and `$ENV` expansion are not done. Turn it off with
`prefect1_config = ""`.
"""

from __future__ import annotations

import os

from prefect_secrets._config.file import ConfigDocument, config_file, warn_if_readable_by_others
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.missing import MISSING
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["PREFECT1_LABEL", "Prefect1FileSource"]

PREFECT1_LABEL = "Prefect 1 config file"


class Prefect1FileSource(SecretSource):
    kind = "prefect1-file"
    blocking_io = False

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        document = self.document(config)
        return MISSING if document is None else document.secrets.get(key.name, MISSING)

    def document(self, config: SourceConfig) -> ConfigDocument | None:
        """Prefect 1's file as it is now; None when the source is off."""
        path = config.settings.prefect1_config
        if path is None:
            return None
        document = config_file(os.path.expanduser(path), label=PREFECT1_LABEL, strict=False).read()
        warn_if_readable_by_others(document, strict=config.settings.strict_permissions)
        return document

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        document = self.document(config)
        return [] if document is None else [org_key(name) for name in document.secrets]

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        path = config.settings.prefect1_config
        if path is None:
            return f"Prefect 1 file: not read ({self.skip_reason(config)})"
        return f"Prefect 1 file {os.path.expanduser(path)} [context.secrets] {key.name}"

    def skip_reason(self, config: SourceConfig) -> str | None:
        if config.settings.prefect1_config is None:
            return 'prefect1_config = ""'
        return None
