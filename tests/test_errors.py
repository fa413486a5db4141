"""Errors: typed, one base class, messages that say what was searched and never show a value."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import (
    PrefectSecretsError,
    Secret,
    SecretNotFound,
    SecretSourceError,
    SettingsError,
    secrets_context,
)


def test_the_hierarchy() -> None:
    """Code written for Prefect 1 catching KeyError or ValueError keeps working."""
    assert issubclass(SecretNotFound, KeyError)
    assert issubclass(SecretNotFound, ValueError)
    for error in (SecretNotFound, SecretSourceError, SettingsError):
        assert issubclass(error, PrefectSecretsError)
    assert not issubclass(SecretSourceError, KeyError)


@pytest.mark.parametrize("caught_as", [KeyError, ValueError, SecretNotFound, PrefectSecretsError])
def test_not_found_is_caught_as_prefect_1_code_expects(caught_as: type[Exception]) -> None:
    with pytest.raises(caught_as):
        Secret("NOT_ANYWHERE").get()


def test_not_found_names_every_place_in_order(home: Path) -> None:
    with pytest.raises(SecretNotFound) as caught:
        Secret("WAREHOUSE_PASSWORD").get()
    error = caught.value
    message = str(error)
    assert message.startswith(
        "secret 'WAREHOUSE_PASSWORD' not found. Searched, in order: 1. context"
    )
    expected_in_order = [
        "context",
        "env var PREFECT__CONTEXT__SECRETS__WAREHOUSE_PASSWORD",
        "mounted file",
        f"file {home}/.config/prefect-secrets/config.toml [context.secrets] WAREHOUSE_PASSWORD",
        "token declarations ([tokens.WAREHOUSE_PASSWORD] in ",
        f"Prefect 1 file {home}/.prefect/config.toml",
        "Prefect server: not asked",
    ]
    positions = [message.index(part) for part in expected_in_order]
    assert positions == sorted(positions)
    assert error.name == "WAREHOUSE_PASSWORD"
    assert len(error.places) == 7
    assert "\n" not in message


def test_str_is_the_message_not_a_quoted_repr() -> None:
    """KeyError's str() would quote the message; ours reads as written."""
    with pytest.raises(SecretNotFound) as caught:
        Secret("X").get()
    assert str(caught.value).startswith("secret 'X' not found")


def test_errors_survive_pickling() -> None:
    """Prefect pickles exceptions raised in tasks."""
    with pytest.raises(SecretNotFound) as caught:
        Secret("X").get()
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), str(copy), copy.places) == (
        SecretNotFound,
        str(caught.value),
        caught.value.places,
    )
    error = SecretSourceError("server down", source="server", place="http://127.0.0.1:1/api")
    copy2 = pickle.loads(pickle.dumps(error))
    assert (str(copy2), copy2.source, copy2.place) == (
        "server down",
        "server",
        "http://127.0.0.1:1/api",
    )


def test_default_is_returned_only_for_not_found(write_config: Callable[..., Path]) -> None:
    assert Secret("X").get(default="fallback") == "fallback"
    assert Secret("X").get(default=None) is None
    write_config("[context.secrets")
    with pytest.raises(SecretSourceError):
        Secret("X").get(default="fallback")


def test_secret_reprs_never_hold_values(fake: Callable[[str], str]) -> None:
    value = fake("repr")
    with secrets_context(DB=value):
        secret = Secret("DB")
        assert secret.get() == value
        for text in (
            repr(secret),
            str(secret),
            repr(pickle.loads(pickle.dumps(secret))),
            str(secret.explain()),
        ):
            assert value not in text
        assert repr(secret) == "Secret('DB')"


def test_no_message_contains_a_value(
    write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    """A value in a broken file never appears in the error about that file."""
    value = fake("in-broken-file")
    write_config(f'[context.secrets]\nA = "{value}"\nB = {value}\n')
    with pytest.raises(SecretSourceError) as caught:
        Secret("B").get()
    assert value not in str(caught.value)
