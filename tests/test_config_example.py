"""config.example.toml works: every setting in it is valid and its secrets resolve."""

from __future__ import annotations

import shutil
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
