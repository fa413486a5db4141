"""The settings of one source: `[settings.<kind>]` in the config file, env vars
`PREFECT_SECRETS_<KIND>_<NAME>` (kind upper-cased, `-` as `_`), then defaults.

    [settings.aws]
    prefix = "prefect/"            # env PREFECT_SECRETS_AWS_PREFIX
    region = "eu-west-1"           # env PREFECT_SECRETS_AWS_REGION

A source declares what it reads (`SecretSource.setting_specs`, a tuple of
`Setting`); `SourceConfig.source_settings(source)` parses them, once per
version of the file and of those env vars. An unknown key or a bad value is one
`SettingsError` naming the env var, or the file, line and key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prefect_secrets._config.file import ConfigDocument
from prefect_secrets._config.settings import Setting
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv, snapshot
from prefect_secrets._core.errors import SettingsError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["SourceSettings", "env_var_of", "load_source_settings"]


def env_var_of(kind: str, name: str) -> str:
    """The env var of setting `name` of source `kind`: `PREFECT_SECRETS_AWS_PREFIX`."""
    return f"PREFECT_SECRETS_{kind.upper().replace('-', '_')}_{name.upper()}"


class SourceSettings(Mapping[str, "Any"]):
    """One source's settings in force (read-only), each with where it came from."""

    __slots__ = ("_origins", "_values", "kind")

    def __init__(self, kind: str, values: dict[str, Any], origins: dict[str, str]) -> None:
        self.kind = kind
        self._values = values
        self._origins = origins

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def origin(self, name: str) -> str:
        """Where setting `name` comes from: an env var, a file and line, or "default"."""
        if name not in self._values:
            raise KeyError(name)
        return self._origins.get(name, "default")

    def __repr__(self) -> str:
        return f"SourceSettings({self.kind!r}, {self._values!r})"


_cache: dict[tuple[object, ...], SourceSettings] = {}


def load_source_settings(
    document: ConfigDocument, kind: str, specs: Sequence[Setting]
) -> SourceSettings:
    """The settings of source `kind`: env vars > `[settings.<kind>]` > defaults."""
    env_vars = tuple(env_var_of(kind, spec.name) for spec in specs)
    key = (document, kind, tuple(specs), snapshot(env_vars))
    found = _cache.get(key)
    if found is not None:
        return found
    values = {spec.name: spec.default for spec in specs}
    origins: dict[str, str] = {}
    table_name = f"settings.{kind}"
    table = document.settings.get(kind, {})
    if not isinstance(table, dict):
        where = document.where("settings", kind)
        raise SettingsError(f"{where}: [settings] {kind} must be a table")
    by_name = {spec.name: spec for spec in specs}
    for name, raw in table.items():
        where = f"{document.where(table_name, name)}: [{table_name}] {name}"
        spec = by_name.get(name)
        if spec is None:
            known = ", ".join(by_name) or "none"
            raise SettingsError(f"{where} is not a setting of source {kind!r} (known: {known})")
        values[name] = _parse(spec, raw, where)
        origins[name] = document.where(table_name, name)
    for spec, env_var in zip(specs, env_vars, strict=True):
        text = getenv(env_var)
        if text is not None:
            values[spec.name] = _parse(spec, text, env_var)
            origins[spec.name] = f"env {env_var}"
    if len(_cache) >= 64:
        _cache.clear()
    found = _cache[key] = SourceSettings(kind, values, origins)
    return found


def _parse(spec: Setting, raw: object, where: str) -> Any:
    try:
        return spec.parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{where} = {raw!r} is invalid: {exc}") from None
