"""get_many / aget_many: several secrets, local sources first, the rest in one server request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prefect_secrets import Secret, SecretNotFound, aget_many, context, get_many
from tests.support.servers import CountingProxy, PrefectServer

FILTER = ("POST", "/api/block_documents/filter")


def test_every_source_in_one_call(
    proxy: CountingProxy,
    save_block: Callable[[str, Any], None],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    values = {name: fake(name.lower()) for name in ("CTX", "ENVV", "FILEV", "SRV")}
    context.secrets["CTX"] = values["CTX"]
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__ENVV", values["ENVV"])
    write_config(f'[context.secrets]\nFILEV = "{values["FILEV"]}"\n')
    save_block("srv", values["SRV"])
    proxy.reset()
    assert get_many(["CTX", "ENVV", "FILEV", "SRV"]) == values
    assert proxy.requests == {FILTER: 1}


def test_precedence_is_the_same_as_get(
    proxy: CountingProxy,
    save_block: Callable[[str, Any], None],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    env_value = fake("env")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__BOTH", env_value)
    save_block("both", fake("server"))
    proxy.reset()
    assert get_many(["BOTH"]) == {"BOTH": env_value} == {"BOTH": Secret("BOTH").get()}
    assert proxy.total() == 0, "a name the environment has is never asked of the server"


def test_many_server_names_cost_one_request_per_200(
    proxy: CountingProxy,
    save_block: Callable[[str, Any], None],
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    names = [unique_name("MANY") for _ in range(250)]
    stored = {name: fake("many") for name in names[:5]}
    for name, value in stored.items():
        save_block(name.lower().replace("_", "-"), value)
    proxy.reset()
    found = get_many(names, default=None)
    assert {name: found[name] for name in stored} == stored
    assert all(found[name] is None for name in names[5:])
    assert proxy.requests == {FILTER: 2}
    # Answers, hits and misses alike, are now cached: get() costs nothing more.
    assert Secret(names[0]).get() == stored[names[0]]
    assert not Secret(names[-1]).exists()
    assert proxy.total() == 2


def test_missing_names_are_all_listed(server: PrefectServer, fake: Callable[[str], str]) -> None:
    context.secrets["HERE"] = fake("here")
    with pytest.raises(SecretNotFound) as caught:
        get_many(["HERE", "GONE_1", "GONE_2"])
    assert caught.value.names == ("GONE_1", "GONE_2")
    assert "secret 'GONE_1' not found (nor 'GONE_2', searched alike)" in str(caught.value)


def test_values_are_decoded_unless_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__PORT", "5432")
    assert get_many(["PORT"]) == {"PORT": 5432}
    assert get_many(["PORT"], raw=True) == {"PORT": "5432"}


def test_invalid_names_are_refused_before_any_lookup() -> None:
    with pytest.raises(ValueError, match="names are 1-255"):
        get_many(["GOOD", "not good"])


async def test_aget_many(
    proxy: CountingProxy, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    first, second = fake("a1"), fake("a2")
    save_block("async-many-1", first)
    save_block("async-many-2", second)
    proxy.reset()
    found = await aget_many(["ASYNC_MANY_1", "ASYNC_MANY_2", "ASYNC_MANY_3"], default="fallback")
    assert found == {"ASYNC_MANY_1": first, "ASYNC_MANY_2": second, "ASYNC_MANY_3": "fallback"}
    assert proxy.requests == {FILTER: 1}
