"""Settings: env vars > the file's [settings] > defaults; bad values name what is at fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import Secret, SettingsError
from prefect_secrets.sources import SourceConfig as Config


def current() -> object:
    return Config().settings


def test_defaults() -> None:
    settings = Config().settings
    assert (settings.server, settings.timeout, settings.retries) == ("auto", 5.0, 2)


def test_the_file_beats_defaults_and_env_beats_the_file(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[settings]\nserver = "never"\ntimeout = 2\n')
    assert (Config().settings.server, Config().settings.timeout) == ("never", 2.0)
    monkeypatch.setenv("PREFECT_SECRETS_SERVER", "always")
    assert (Config().settings.server, Config().settings.timeout) == ("always", 2.0)


@pytest.mark.parametrize(("use_local", "mode"), [("true", "never"), ("false", "always")])
def test_prefect1s_use_local_secrets_is_an_alias(
    write_config: Callable[..., Path], use_local: str, mode: str
) -> None:
    write_config(f"[settings]\nuse_local_secrets = {use_local}\n")
    assert Config().settings.server == mode


def test_prefect1s_env_var_is_an_alias_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT__CLOUD__USE_LOCAL_SECRETS", "true")
    assert Config().settings.server == "never"


def test_alias_and_setting_that_disagree_are_refused(write_config: Callable[..., Path]) -> None:
    write_config('[settings]\nuse_local_secrets = true\nserver = "always"\n')
    with pytest.raises(SettingsError, match="disagree"):
        Config().settings  # noqa: B018


def test_an_invalid_file_setting_names_file_line_and_key(write_config: Callable[..., Path]) -> None:
    path = write_config('# my settings\n[settings]\nserver = "sometimes"\n')
    with pytest.raises(SettingsError) as caught:
        Secret("X").get()
    assert str(caught.value) == (
        f"{path}, line 3: [settings] server = 'sometimes' is invalid: "
        "expected one of 'auto', 'always', 'never'"
    )


def test_an_invalid_env_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", "-1")
    with pytest.raises(
        SettingsError, match=r"PREFECT_SECRETS_TIMEOUT = '-1' is invalid: expected a finite"
    ):
        Secret("X").get()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("timeout = 0", "greater than 0"),
        ('timeout = "soon"', "expected a number of seconds"),
        ("timeout = inf", "finite"),
        ("timeout = nan", "finite"),
        ("retries = -1", "0 or more"),
        ("retries = 1.5", "whole number"),
        ("retries = true", "whole number"),
        ("strict_permissions = 3", "true or false"),
        ("prefect1_config = 3", "expected a path"),
        ("sever = 'never'", "is not a known setting"),
    ],
)
def test_invalid_file_settings(write_config: Callable[..., Path], line: str, message: str) -> None:
    write_config(f"[settings]\n{line}\n")
    with pytest.raises(SettingsError, match=message) as caught:
        Config().settings  # noqa: B018
    assert "line 2" in str(caught.value)


def test_settings_in_the_file_are_seen_after_an_edit(write_config: Callable[..., Path]) -> None:
    path = write_config('[settings]\nserver = "never"\n')
    assert Config().settings.server == "never"
    path.write_text('[settings]\nserver = "always"\n')
    assert Config().settings.server == "always"
