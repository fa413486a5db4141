"""`secrets_context(hide=...)`, `HIDDEN`, `Failing`, and `Secret(name, env_var=...)`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from prefect_secrets import Secret, context, get_many, secrets_context
from prefect_secrets._context import HIDDEN, Failing
from prefect_secrets._core.errors import SecretNotFound, SecretSourceError
from prefect_secrets._masking.registry import registered_values


def test_hide_skips_every_source(monkeypatch: pytest.MonkeyPatch, fake: Callable[..., str]) -> None:
    value = fake("env")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__HIDE_ME", value)
    assert Secret("HIDE_ME").get() == value
    with secrets_context(hide=["HIDE_ME"]):
        assert Secret("HIDE_ME").get(default=None) is None
        assert not Secret("HIDE_ME").exists()
        assert asyncio.run(Secret("HIDE_ME").aget(default="d")) == "d"
        assert not asyncio.run(Secret("HIDE_ME").aexists())
        with pytest.raises(SecretNotFound, match="hidden by secrets_context"):
            Secret("HIDE_ME").get()
        assert get_many(["HIDE_ME"], default=None) == {"HIDE_ME": None}
        with pytest.raises(SecretNotFound):
            get_many(["HIDE_ME"])
        statuses = [(place.source, place.status) for place in Secret("HIDE_ME").explain()]
        assert statuses[:2] == [("context", "hidden"), ("env", "shadowed")]
        with secrets_context(HIDE_ME="inner"):  # an inner block can give it a value again
            assert Secret("HIDE_ME").get() == "inner"
    assert Secret("HIDE_ME").get() == value


def test_hide_in_process_context_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__PROC_HIDE", "fake-proc-hide")
    context.secrets["PROC_HIDE"] = HIDDEN
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(Secret("PROC_HIDE").get, default=None).result() is None
    assert "PROC_HIDE" not in [key.name for key in _context_names()]


def _context_names() -> list[object]:
    from prefect_secrets._config.lookup import SourceConfig
    from prefect_secrets._sources.registry import source_of_kind

    return list(source_of_kind("context", SourceConfig()).names(SourceConfig()))  # type: ignore[arg-type]


def test_hide_refuses_one_string() -> None:
    with pytest.raises(TypeError):
        secrets_context(hide="NAME")  # type: ignore[arg-type]
    assert "hide=['A']" in repr(secrets_context(hide=["A"], B="fake-b"))
    assert "fake-b" not in repr(secrets_context(hide=["A"], B="fake-b"))


def test_hide_a_pinned_version() -> None:
    with secrets_context(hide=["PINNED"]), pytest.raises(SecretNotFound):
        Secret("PINNED", version="3").get()


def test_failing_raises_a_source_error() -> None:
    context.secrets["BROKEN"] = Failing("fake outage")
    with pytest.raises(SecretSourceError, match="fake outage"):
        Secret("BROKEN").get()
    with pytest.raises(SecretSourceError):
        Secret("BROKEN").exists()


def test_env_var_reads_the_named_variable(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[..., str]
) -> None:
    value = fake("my-var")
    monkeypatch.setenv("MY_PLAIN_VAR", value)
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__VIA_ENV", "fake-prefixed")
    secret = Secret("VIA_ENV", env_var="MY_PLAIN_VAR")
    assert secret.get() == value
    assert value in registered_values()
    assert asyncio.run(secret.aget()) == value
    assert secret.exists()
    assert secret.source() == "env var MY_PLAIN_VAR (env_var= of VIA_ENV)"
    statuses = [(place.source, place.status) for place in secret.explain()]
    assert statuses[:3] == [("context", "absent"), ("env_var", "found"), ("env", "shadowed")]
    assert "env_var='MY_PLAIN_VAR'" in repr(secret)
    assert secret != Secret("VIA_ENV")
    with secrets_context(VIA_ENV="fake-ctx"):  # the context comes first, as for every secret
        assert secret.get() == "fake-ctx"
    with secrets_context(hide=["VIA_ENV"]):
        assert secret.get(default=None) is None
    monkeypatch.delenv("MY_PLAIN_VAR")  # unset: the usual walk for the name
    assert secret.get() == "fake-prefixed"
    monkeypatch.delenv("PREFECT__CONTEXT__SECRETS__VIA_ENV")
    with pytest.raises(SecretNotFound):
        secret.get()
    assert not asyncio.run(secret.aexists())


def test_env_var_decodes_json_like_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JSON_VAR", '{"user": "fake-user"}')
    assert Secret("JSONY", env_var="MY_JSON_VAR").get() == {"user": "fake-user"}
    assert Secret("JSONY", env_var="MY_JSON_VAR").get(raw=True) == '{"user": "fake-user"}'


def test_env_var_is_checked() -> None:
    with pytest.raises(ValueError, match="env_var and version"):
        Secret("X", env_var="MY_VAR", version="2")
    with pytest.raises(ValueError, match="invalid env_var"):
        Secret("X", env_var="1-bad")
