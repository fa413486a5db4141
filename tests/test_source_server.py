"""The Prefect server source, against a real `prefect server start` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prefect_secrets import Secret, SecretNotFound, SecretSourceError
from tests.support.servers import PrefectServer, counting_proxy, free_port


def test_a_block_saved_with_prefects_api_is_found(
    save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    """`Secret(value=...).save("warehouse-password")` is `Secret("WAREHOUSE_PASSWORD")`."""
    value = fake("warehouse")
    save_block("warehouse-password", value)
    assert Secret("WAREHOUSE_PASSWORD").get() == value
    assert Secret("warehouse-password").get() == value
    assert Secret("Warehouse_Password").exists()


def test_dict_blocks_come_back_as_dicts(
    save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    creds = {"user": "etl", "password": fake("dict-pw")}
    save_block("snowflake-creds", creds)
    assert Secret("SNOWFLAKE_CREDS").get() == creds


def test_json_strings_in_blocks_are_decoded_like_prefect_does(
    save_block: Callable[[str, Any], None],
) -> None:
    from prefect.blocks.system import Secret as SecretBlock

    save_block("port-number", "5432")
    assert Secret("PORT_NUMBER").get() == SecretBlock.load("port-number").get() == 5432
    assert Secret("PORT_NUMBER").get(raw=True) == "5432"


def test_a_missing_block_is_not_found_and_the_message_names_the_server(
    server: PrefectServer,
) -> None:
    with pytest.raises(SecretNotFound) as caught:
        Secret("NO_SUCH_SECRET").get()
    assert f"Prefect server {server.api_url} block 'secret/no-such-secret'" in str(caught.value)
    assert not Secret("NO_SUCH_SECRET").exists()


async def test_async_twins(
    save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    value = fake("async")
    save_block("async-secret", value)
    assert await Secret("ASYNC_SECRET").aget() == value
    assert await Secret("ASYNC_SECRET").aexists()
    assert not await Secret("ASYNC_MISSING").aexists()
    with pytest.raises(SecretNotFound):
        await Secret("ASYNC_MISSING").aget()


def test_server_never_is_not_asked(
    save_block: Callable[[str, Any], None],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    save_block("only-on-server", fake("server"))
    monkeypatch.setenv("PREFECT_SECRETS_SERVER", "never")
    with pytest.raises(SecretNotFound, match=r"not asked \(server = never\)"):
        Secret("ONLY_ON_SERVER").get()


def test_auto_without_api_url_outside_a_run_fails_fast_without_a_server(
    prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Local development: a missing secret fails in milliseconds, and no server is started."""
    import time

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    started = time.perf_counter()
    with pytest.raises(SecretNotFound, match="not asked"):
        Secret("LOCAL_ONLY").get()
    assert time.perf_counter() - started < 0.5


def test_auto_asks_inside_a_flow_run_even_without_a_url(
    server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a flow run (e.g. on the temporary server) auto asks the server; outside, not.

    With no URL anywhere and the temporary server disabled in tests, asking
    shows up as an error naming that, and not asking as "not asked".
    """
    from prefect import flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL")

    def server_place() -> object:
        with temporary_settings(restore_defaults={PREFECT_API_URL}):
            return next(p for p in Secret("X").explain() if p.source == "server")

    inside = flow(server_place)()
    outside = server_place()
    assert (inside.status, outside.status) == ("error", "not asked")
    assert "temporary server is disabled" in inside.detail


def test_a_secret_on_the_server_is_found_inside_a_flow(
    save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    from prefect import flow

    value = fake("in-flow")
    save_block("in-flow-secret", value)

    @flow
    def reads_a_secret() -> bool:
        return bool(Secret("IN_FLOW_SECRET").get() == value)

    assert reads_a_secret() is True


def test_always_asks_even_with_no_url_anywhere(
    server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no URL, auto does not ask; always does (the temporary server: off in tests)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(SecretNotFound, match="not asked"):
            Secret("X").get()
        monkeypatch.setenv("PREFECT_SECRETS_SERVER", "always")
        with pytest.raises(SecretSourceError, match="temporary server is disabled"):
            Secret("X").get()


def test_auto_reads_the_url_from_the_active_prefect_profile(
    server: PrefectServer,
    save_block: Callable[[str, Any], None],
    tmp_path: Path,
    fake: Callable[[str], str],
) -> None:
    """`prefect config set PREFECT_API_URL=...` is enough; read without importing prefect."""
    value = fake("profile")
    save_block("from-profile", value)
    prefect_home = tmp_path / "prefect-home"
    prefect_home.mkdir()
    (prefect_home / "profiles.toml").write_text(
        f'active = "dev"\n[profiles.dev]\nPREFECT_API_URL = "{server.api_url}"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(prefect_home)
    code = (
        "import prefect_secrets; print(prefect_secrets.Secret('FROM_PROFILE').get() == "
        + repr(value)
        + ")"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_one_http_request_per_lookup(
    server: PrefectServer, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    """Like Prefect's Secret.load: one GET by block-type slug and name, for a hit and for a miss."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    save_block("counted-secret", fake("counted"))
    origin = server.origin
    with (
        counting_proxy(origin) as proxy,
        temporary_settings(updates={PREFECT_API_URL: proxy.url + "/api"}),
    ):
        assert Secret("COUNTED_SECRET").exists()
        assert proxy.total() == 1
        assert not Secret("COUNTED_MISSING").exists()
        assert proxy.total() == 2
    assert (
        proxy.requests[("GET", "/api/block_types/slug/secret/block_documents/name/counted-secret")]
        == 1
    )


def test_an_unreachable_server_is_a_source_error_not_a_missing_secret(
    server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    dead = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "1")
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        with pytest.raises(SecretSourceError) as caught:
            Secret("ANY").get()
        with pytest.raises(SecretSourceError):
            Secret("ANY").exists()
    message = str(caught.value)
    assert dead in message
    assert "cannot connect" in message
    assert "after 2 attempts" in message


def test_a_url_that_is_not_prefects_api_is_not_reported_as_missing(server: PrefectServer) -> None:
    """A 404 from the wrong path (PREFECT_API_URL without /api) is a configuration error."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    wrong_url = server.api_url.removesuffix("/api")
    with (
        temporary_settings(updates={PREFECT_API_URL: wrong_url}),
        pytest.raises(SecretSourceError, match="ends in /api"),
    ):
        Secret("ANY").get()


async def test_concurrent_async_lookups_share_one_request(
    server: PrefectServer, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    value = fake("flight")
    save_block("single-flight", value)
    origin = server.origin
    with (
        counting_proxy(origin) as proxy,
        temporary_settings(updates={PREFECT_API_URL: proxy.url + "/api"}),
    ):
        results = await asyncio.gather(*(Secret("SINGLE_FLIGHT").aget() for _ in range(20)))
    assert results == [value] * 20
    assert proxy.total() == 1
