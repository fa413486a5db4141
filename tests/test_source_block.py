"""Any Prefect `SecretBlock` (`sources = block`): prefect-aws's `AwsSecret` blocks saved on the
session's Prefect server, pointing at moto's real AWS Secrets Manager.

Values are fake and never printed: checks compare them into booleans and counts first.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from prefect_secrets import Secret, SecretNotFound, SecretSourceError, get_many
from prefect_secrets._core.names import block_name
from prefect_secrets._sources.block import BlockSource
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets._sources.remote import deadline_of
from prefect_secrets.sources import SecretKey, SourceConfig
from tests.support.aws import MotoServer
from tests.support.cli import Result, run_cli
from tests.support.servers import PrefectServer, free_port

pytest_plugins = ["tests.support.aws_fixtures"]

SaveBlock = Callable[..., str]


def block_source() -> BlockSource:
    source = source_of_kind("block", SourceConfig())
    assert isinstance(source, BlockSource)
    return source


def shown(result: Result, *values: str) -> str:
    """The CLI's output with `values` blanked, for assertion messages."""
    text = result.output
    for value in values:
        text = text.replace(value, "<value>")
    return text


@pytest.fixture
def blocks(
    aws: MotoServer, server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SaveBlock]:
    """`save(block, secret_name, slug="aws-secret")`: an `AwsSecret` block on the session's
    server for AWS secret `secret_name` on moto, as users save one; deleted afterwards.
    Lookups ask only this source, searching type aws-secret."""
    from prefect_aws import AwsCredentials, AwsSecret
    from prefect_aws.client_parameters import AwsClientParameters

    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "block")
    monkeypatch.setenv("PREFECT_SECRETS_BLOCK_TYPES", "aws-secret")
    saved: list[str] = []

    def save(block: str, secret_name: str) -> str:
        credentials = AwsCredentials(
            aws_access_key_id=aws.access_key_id,
            aws_secret_access_key=aws.secret_access_key,
            region_name=aws.region,
            aws_client_parameters=AwsClientParameters(endpoint_url=aws.url),
        )
        AwsSecret(aws_credentials=credentials, secret_name=secret_name).save(block, overwrite=True)
        saved.append(block)
        return block

    yield save
    for block in saved:
        url = f"{server.api_url}/block_types/slug/aws-secret/block_documents/name/{block}"
        found = httpx.get(url, timeout=10)
        if found.status_code == 200:
            httpx.delete(f"{server.api_url}/block_documents/{found.json()['id']}", timeout=10)


def test_a_secret_is_read_through_the_block_named_after_it(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    """`DB_PASSWORD` -> block `aws-secret/db-password` -> its AWS secret (a SecretString)."""
    name, value = unique_name("DB"), fake("db")
    aws.client().create_secret(Name=f"team/{name}", SecretString=value)
    blocks(block_name(name), f"team/{name}")
    ok = Secret(name).get() == value
    assert ok
    assert Secret(name).exists()
    assert Secret(name).source().startswith(f"Prefect SecretBlock aws-secret/{block_name(name)}")


def test_a_missing_block_is_not_found_naming_each_type_searched(
    blocks: SaveBlock, server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_BLOCK_TYPES", "gcp-secret,aws-secret")
    with pytest.raises(SecretNotFound) as caught:
        Secret("NO_SUCH_BLOCK").get()
    assert (
        "Prefect SecretBlock gcp-secret/no-such-block or aws-secret/no-such-block "
        f"on {server.api_url}"
    ) in str(caught.value)


def test_types_are_searched_in_order(
    aws: MotoServer,
    blocks: SaveBlock,
    monkeypatch: pytest.MonkeyPatch,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    name, value = unique_name("ORDERED"), fake("ordered")
    aws.client().create_secret(Name=name, SecretString=value)
    blocks(block_name(name), name)
    monkeypatch.setenv("PREFECT_SECRETS_BLOCK_TYPES", '["gcp-secret", "aws-secret"]')
    ok = Secret(name).get() == value
    assert ok


def test_the_map_names_any_block_for_a_secret(
    aws: MotoServer,
    blocks: SaveBlock,
    monkeypatch: pytest.MonkeyPatch,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    value = fake("mapped")
    aws.client().create_secret(Name="prod/db", SecretString=value)
    block = blocks(unique_name("prod-db").lower().replace("_", "-"), "prod/db")
    monkeypatch.delenv("PREFECT_SECRETS_BLOCK_TYPES")
    monkeypatch.setenv("PREFECT_SECRETS_BLOCK_MAP", f"WAREHOUSE=aws-secret/{block}")
    ok = Secret("WAREHOUSE").get() == value
    assert ok
    assert [key for key in block_source().names(SourceConfig())] == [SecretKey("WAREHOUSE")]


def test_scoped_names_use_prefects_scoped_block_names(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    name, value = unique_name("SCOPED"), fake("scoped")
    aws.client().create_secret(Name=name, SecretString=value)
    blocks(block_name(name, "etl", "prod"), name)
    ok = Secret(name, project="etl", domain="prod").get() == value
    assert ok
    assert not Secret(name).exists()
    listed = [key for key in block_source().names(SourceConfig()) if key.project == "etl"]
    assert listed == [SecretKey(block_name(name), "etl", "prod")]


def test_binary_values_are_text_when_they_are_utf8_else_bytes(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
) -> None:
    text_name, blob_name = unique_name("TEXT_BIN"), unique_name("BLOB")
    aws.client().create_secret(Name=text_name, SecretBinary=b'{"token": "fake-token"}')
    aws.client().create_secret(Name=blob_name, SecretBinary=b"\xff\x00fake")
    blocks(block_name(text_name), text_name)
    blocks(block_name(blob_name), blob_name)
    ok = Secret(text_name).get() == {"token": "fake-token"}  # str, then JSON-decoded
    assert ok
    ok = Secret(blob_name).get() == b"\xff\x00fake"
    assert ok


def test_a_block_pointing_at_nothing_is_an_error_naming_the_block(
    blocks: SaveBlock, unique_name: Callable[[str], str]
) -> None:
    """A broken block is not a missing secret: the lookup stops there."""
    name = unique_name("DANGLING")
    blocks(block_name(name), "no/such/secret")
    with pytest.raises(SecretSourceError) as caught:
        Secret(name).get()
    assert str(caught.value) == (
        f"Prefect SecretBlock: secret 'aws-secret/{block_name(name)}': read_secret failed "
        "(ResourceNotFoundException)"
    )


def test_a_block_that_is_not_a_secret_block_is_an_error(
    blocks: SaveBlock,
    save_block: Callable[[str, object], None],
    monkeypatch: pytest.MonkeyPatch,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    block = block_name(unique_name("PLAIN"))
    save_block(block, fake("plain"))
    monkeypatch.setenv("PREFECT_SECRETS_BLOCK_MAP", f"PLAIN=secret/{block}")
    with pytest.raises(SecretSourceError, match="is a Secret block, not a SecretBlock"):
        Secret("PLAIN").get()


def test_an_unreachable_prefect_server_is_an_error_within_the_deadline(
    blocks: SaveBlock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", "0.5")
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "0")
    dead = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", dead)
    deadline = deadline_of(SourceConfig().settings)
    started = time.monotonic()
    with (
        temporary_settings(updates={PREFECT_API_URL: dead}),
        pytest.raises(SecretSourceError) as caught,
    ):
        Secret("ANYTHING").get()
    assert "Prefect SecretBlock: secret 'aws-secret/anything'" in str(caught.value)
    assert time.monotonic() - started < deadline + 0.5


def test_not_asked_without_types_or_map(blocks: SaveBlock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_SECRETS_BLOCK_TYPES")
    with pytest.raises(SecretNotFound):
        Secret("ANYTHING").get()
    place = next(place for place in Secret("ANYTHING").explain() if place.source == "block")
    assert place.status == "not asked"


# Prefect opens a sync API client in every flow run (to read the server's default result
# storage) and never closes it: its socket is reported when garbage-collected (as in
# test_task.py), here collected before the test ends.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
def test_get_many_and_an_async_flow(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    """Inside an async flow, Prefect would hand back coroutines: the source asks for sync."""
    import asyncio

    from prefect import flow

    values = {unique_name("MANY"): fake(f"many-{i}") for i in range(3)}
    for name, value in values.items():
        aws.client().create_secret(Name=name, SecretString=value)
        blocks(block_name(name), name)
    ok = get_many(list(values)) == values
    assert ok
    block_source().invalidate()

    @flow
    async def reads_blocks() -> bool:
        got = [await Secret(name).aget() for name in values]
        return got == list(values.values())

    assert asyncio.run(reads_blocks()) is True
    gc.collect()


def test_cli_set_get_ls_delete_with_store_block(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    """`set` writes through the block's write_secret (prefect-aws: a SecretBinary), `delete`
    through its delete_secret (AWS's recovery window); the block stays."""
    name, first, second = unique_name("CLI_BLOCK"), fake("first"), fake("second")
    blocks(block_name(name), f"cli/{name}")
    result = run_cli("set", name, "--store", "block", stdin=first + "\n")
    assert result.code == 0, shown(result, first)
    assert f"Saved secret '{name}': Prefect SecretBlock aws-secret/{block_name(name)}" in (
        " ".join(result.stdout.split())
    )
    stored = aws.client().get_secret_value(SecretId=f"cli/{name}")["SecretBinary"]
    ok = stored == first.encode()
    assert ok
    result = run_cli("set", name, "--store", "block", "--yes", stdin=second + "\n")
    assert (result.code, f"Replaced secret '{name}'" in result.stdout) == (0, True)
    outputs = [run_cli("get", name), run_cli("ls"), run_cli("get", name, "--reveal")]
    assert [r.code for r in outputs] == [0, 0, 0], [shown(r, first, second) for r in outputs]
    ok = outputs[2].stdout.strip() == second
    assert ok
    ok = block_name(name) in outputs[1].stdout
    assert ok, shown(outputs[1], first, second)
    result = run_cli("delete", name, "--store", "block", "--yes")
    assert result.code == 0, shown(result, first, second)
    assert "DeletedDate" in aws.client().describe_secret(SecretId=f"cli/{name}")
    leaks = [r.output.count(v) for r in [*outputs[:2], result] for v in (first, second)]
    assert leaks == [0] * len(leaks)


def test_cli_set_without_a_block_says_to_create_one(
    blocks: SaveBlock, unique_name: Callable[[str], str]
) -> None:
    result = run_cli("set", unique_name("NO_BLOCK"), "--store", "block", "--value", "fake-x")
    assert result.code == 4, result.output
    assert "no such block to write through: create it first" in result.stderr


# --- rotation, refusals, slowness, masking --------------------------------------------------


def test_a_rotated_value_is_seen_once_the_ttl_expires_or_at_once_after_our_write(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "0.5")
    name, old, new, ours = unique_name("ROT"), fake("rot-old"), fake("rot-new"), fake("rot-ours")
    aws.client().create_secret(Name=name, SecretString=old)
    blocks(block_name(name), name)
    seen = [Secret(name).get() == old]
    aws.client().put_secret_value(SecretId=name, SecretString=new)  # rotated elsewhere
    seen.append(Secret(name).get() == old)  # still cached
    time.sleep(0.6)
    seen.append(Secret(name).get() == new)
    config = SourceConfig()
    block_source().write(SecretKey(name), ours, config)  # through the block's write_secret
    seen.append(Secret(name).get() == ours)
    assert seen == [True, True, True, True]


def test_access_denied_is_an_error_naming_the_block_never_not_found(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    name, value = unique_name("DENIED"), fake("denied")
    aws.client().create_secret(Name=name, SecretString=value)
    blocks(block_name(name), name)
    aws.deny(name)  # until the next test's `aws` fixture resets moto and the proxy
    with pytest.raises(SecretSourceError) as caught:
        Secret(name).get()
    message = str(caught.value)
    assert not isinstance(caught.value, SecretNotFound)
    assert f"Prefect SecretBlock: secret 'aws-secret/{block_name(name)}'" in message
    assert "AccessDenied" in message
    assert value not in message


def test_a_hanging_store_behind_the_block_is_bounded_by_the_deadline(
    aws: MotoServer,
    blocks: SaveBlock,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The block's own client has its own timeouts (botocore's 60 s): the lookup still ends
    at timeout x attempts."""
    name = unique_name("HANG")
    aws.client().create_secret(Name=name, SecretString=fake("hang"))
    blocks(block_name(name), name)
    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", "1")
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "0")
    deadline = deadline_of(SourceConfig().settings)
    aws.hang(route="secretsmanager.GetSecretValue")
    started = time.monotonic()
    try:
        with pytest.raises(SecretSourceError) as caught:
            Secret(name).get()
    finally:
        aws.reset()
    elapsed = time.monotonic() - started
    assert elapsed < deadline + 1.0, (elapsed, deadline)
    assert f"aws-secret/{block_name(name)}" in str(caught.value)


MASKED_FLOW = """
from prefect import flow, get_run_logger
from prefect_secrets import Secret

@flow(log_prints=True)
def uses_a_block() -> bool:
    password = Secret({name!r}).get()
    get_run_logger().info("connecting with password %s", password)
    print("printed", password)
    return len(password) > 0

print("RESULT", uses_a_block())
"""


def test_a_value_read_through_a_block_is_masked_in_a_flows_logs_and_prints(
    aws: MotoServer,
    blocks: SaveBlock,
    server: PrefectServer,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name, value = unique_name("FLOW"), fake("flow")
    aws.client().create_secret(Name=name, SecretString=value)
    blocks(block_name(name), name)
    script = tmp_path / "flow.py"
    script.write_text(MASKED_FLOW.format(name=name))
    completed = subprocess.run(
        [sys.executable, str(script)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output.replace(value, "<value>")[-3000:]
    checks = [
        "RESULT True" in completed.stdout,
        "with password ********" in output,
        "printed ********" in output,
        output.count(value) == 0,
    ]
    assert checks == [True, True, True, True]
