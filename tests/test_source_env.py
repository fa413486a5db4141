"""The environment source: `{PREFIX}__CONTEXT__SECRETS__{NAME}`, read at call time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from prefect_secrets import Secret, SecretNotFound, SettingsError


def test_env_var_is_read_at_call_time(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    """Set after import, changed between calls: each get sees the current value."""
    secret = Secret("TOKEN")
    first, second = fake("first"), fake("second")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__TOKEN", first)
    assert secret.get() == first
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__TOKEN", second)
    assert secret.get() == second
    monkeypatch.delenv("PREFECT__CONTEXT__SECRETS__TOKEN")
    assert not secret.exists()


def test_the_names_case_is_preserved(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    value = fake("case")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__MixedCase", value)
    assert Secret("MixedCase").get() == value
    assert not Secret("MIXEDCASE").exists()


def test_json_values_are_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__CREDS", '{"user": "etl", "password": "fake-pw"}')
    assert Secret("CREDS").get() == {"user": "etl", "password": "fake-pw"}


def test_an_empty_value_is_a_value_not_a_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__EMPTY", "")
    assert Secret("EMPTY").exists()
    assert Secret("EMPTY").get() == ""


def test_broken_json_is_returned_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value that looks like JSON but is not comes back as the string it is (documented)."""
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__BROKEN", '{"user": "etl"')
    assert Secret("BROKEN").get() == '{"user": "etl"'


def test_the_prefix_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    value = fake("prefixed")
    monkeypatch.setenv("MYAPP__CONTEXT__SECRETS__TOKEN", value)
    with pytest.raises(SecretNotFound):
        Secret("TOKEN").get()
    monkeypatch.setenv("PREFECT_SECRETS_ENV_PREFIX", "MYAPP")
    assert Secret("TOKEN").get() == value


def test_a_bad_prefix_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_ENV_PREFIX", "MY APP")
    with pytest.raises(SettingsError, match="PREFECT_SECRETS_ENV_PREFIX='MY APP' is invalid"):
        Secret("TOKEN").get()


def test_a_huge_unicode_value_comes_back_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    value = "fake-ünïcødé-🔑-" + "x" * 1_000_000
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__HUGE", value)
    assert Secret("HUGE").get() == value
