"""config.example.toml works: every setting in it is valid and its secrets resolve."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from prefect_secrets import Secret
from prefect_secrets._config.settings import SETTINGS as _SPECS
from prefect_secrets.sources import SourceConfig as Config

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_the_example_is_valid_and_shows_every_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, copy)
    copy.chmod(0o600)
    monkeypatch.setenv("PREFECT_SECRETS_CONFIG", str(copy))
    settings = Config().settings
    assert settings.server == "auto"
    text = EXAMPLE.read_text()
    for name in [*_SPECS, "use_local_secrets"]:
        assert f"{name} =" in text, f"config.example.toml does not show setting {name!r}"
    assert Secret("API_PORT").get() == 8443
    assert Secret("SNOWFLAKE").get()["user"] == "etl"


@pytest.mark.parametrize("kind", ["aws", "gcp", "vault", "azure", "keyring", "block"])
def test_each_managers_table_is_valid_and_shows_every_setting(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_secrets._sources.registry import source_of_kind

    copy = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, copy)
    copy.chmod(0o600)
    monkeypatch.setenv("PREFECT_SECRETS_CONFIG", str(copy))
    config = Config()
    source = source_of_kind(kind, config)
    settings = config.source_settings(source)  # raises SettingsError on a bad value
    text = EXAMPLE.read_text()
    section = text[text.index(f"[settings.{kind}]") :]
    section = section[: section.find("\n[", 1)]
    for spec in source.setting_specs:
        assert f"{spec.name} =" in section, f"[settings.{kind}] does not show {spec.name!r}"
    # What the table sets is what the source gets (env vars do not interfere here).
    written = tomllib.loads(EXAMPLE.read_text())["settings"][kind]
    for name, value in written.items():
        assert _same(settings[name], value), name


def _same(got: object, written: object) -> bool:
    if written == "":  # "" is "not set" for optional settings
        return got in ("", None)
    if isinstance(got, (tuple, list)):
        return list(got) == written
    return got == written
