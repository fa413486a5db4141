"""An example third-party source: secrets in a team's shared JSON file.

    {"WAREHOUSE_PASSWORD": "...", "API_KEY": "..."}

at the path in env var TEAM_SECRETS_FILE. It implements the required lookup,
plus names, write and delete, so that `get`, `ls`, `which`, `set --store
team-file` and `delete --store team-file` all work on it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from prefect_secrets.sources import (
    MISSING,
    SecretKey,
    SecretSource,
    SecretSourceError,
    SourceConfig,
    org_key,
)


class TeamFileSource(SecretSource):
    kind = "team-file"
    blocking_io = False

    def _path(self) -> str:
        path = os.environ.get("TEAM_SECRETS_FILE")
        if not path:
            raise SecretSourceError("team-file: set TEAM_SECRETS_FILE", source=self.kind)
        return path

    def _read(self) -> dict[str, Any]:
        try:
            with open(self._path(), encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretSourceError(
                f"team-file {self._path()}: cannot be read ({type(exc).__name__})",
                source=self.kind,
                place=self._path(),
            ) from None
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, Any]) -> None:
        temporary = self._path() + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, self._path())

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        return self._read().get(key.name, MISSING)

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        return [org_key(name) for name in sorted(self._read())]

    def write(self, key: SecretKey, value: Any, config: SourceConfig) -> str:
        data = self._read()
        outcome = "replaced" if key.name in data else "created"
        data[key.name] = value
        self._save(data)
        return outcome

    def delete(self, key: SecretKey, config: SourceConfig) -> bool:
        data = self._read()
        if data.pop(key.name, MISSING) is MISSING:
            return False
        self._save(data)
        return True

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        return f"team file {self._path()} key {key.name}"
