"""The `prefect-secrets` command against the session's real Prefect server.

The console script runs in a subprocess with PREFECT_API_URL pointing at the
server (the `server` fixture sets it in this process's environment, which the
subprocess inherits). What the command writes is checked with Prefect's own
`Secret.load`, as flows and the UI read it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_secrets import Secret
from prefect_secrets._core.names import block_name
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.servers import PrefectServer, free_port


def load_block(block: str) -> Any:
    """The value as Prefect's own `Secret.load(block).get()` returns it (flows, the UI)."""
    from prefect.blocks.system import Secret as SecretBlock

    return SecretBlock.load(block).get()


def block_document(server: PrefectServer, block: str) -> httpx.Response:
    return httpx.get(
        f"{server.api_url}/block_types/slug/secret/block_documents/name/{block}",
        params={"include_secrets": "false"},
        timeout=10,
    )


@pytest.fixture
def name(unique_name: Callable[[str], str], server: PrefectServer) -> Iterator[str]:
    """A secret name unique to this test; its block is deleted afterwards."""
    made = unique_name("CLI")
    yield made
    server.delete_block(block_name(made))


def test_set_server_writes_a_standard_secret_block(
    server: PrefectServer, name: str, fake: Callable[[str], str]
) -> None:
    value = fake("server")
    result = run_cli("set", name, "--server", "--value", value)
    assert result.code == 0, result
    assert value not in result.output
    block = block_name(name)
    assert f"Secret block '{block}' on the Prefect server {server.api_url}" in result.stdout
    assert load_block(block) == value
    # A standard Secret block, as the UI lists it, with the value obfuscated there.
    document = block_document(server, block).json()
    assert document["block_type"]["slug"] == "secret"
    assert value not in json.dumps(document)
    assert Secret(name).get() == value


def test_set_server_json_and_replace(
    server: PrefectServer, name: str, fake: Callable[[str], str]
) -> None:
    password = fake("pw")
    document = json.dumps({"user": "etl", "password": password})
    first = run_cli("set", name, "--server", "--json", "--value", document)
    assert first.code == 0, first
    assert load_block(block_name(name)) == {"user": "etl", "password": password}
    second = run_cli("set", name, "--server", "--value", fake("plain"), "--yes")
    assert second.code == 0
    assert second.stdout.startswith(f"Replaced secret '{name}'")
    assert password not in first.output + second.output


def test_set_server_from_stdin(
    server: PrefectServer, name: str, fake: Callable[[str], str]
) -> None:
    value = fake("stdin")
    result = run_cli("set", name, "--server", stdin=value + "\n")
    assert result.code == 0, result
    assert load_block(block_name(name)) == value


def test_get_ls_which_see_the_server(
    server: PrefectServer,
    name: str,
    save_block: Callable[[str, Any], None],
    write_config: Callable[..., Path],
    fake: Callable[[str], str],
) -> None:
    value = fake("block")
    block = block_name(name)
    save_block(block, value)

    got = run_cli("get", name)
    assert got.code == 0, got
    assert value not in got.output
    assert f"Prefect server {server.api_url} block 'secret/{block}'" in got.stdout
    assert run_cli("get", name, "--reveal").stdout == value + "\n"

    rows = json.loads(run_cli("ls", "--json").stdout)
    assert {"name": block, "source": "server", "shadowed": False}.items() <= next(
        row for row in rows if row["name"] == block
    ).items()

    places = {
        place["source"]: place for place in json.loads(run_cli("which", name, "--json").stdout)
    }
    assert places["server"]["status"] == "found"
    assert f"{server.api_url} block 'secret/{block}'" in places["server"]["location"]

    # The local file has the same name: it wins, and the block is shadowed.
    local = fake("local")
    write_config(f'[context.secrets]\n{name} = "{local}"\n')
    listing = run_cli("ls", "--json")
    assert value not in listing.output
    assert local not in listing.output
    rows = json.loads(listing.stdout)
    assert next(row for row in rows if row["name"] == block)["shadowed"] is True
    which = json.loads(run_cli("which", name, "--json").stdout)
    statuses = {place["source"]: place["status"] for place in which}
    assert (statuses["file"], statuses["server"]) == ("found", "shadowed")


def test_delete_server(server: PrefectServer, name: str, fake: Callable[[str], str]) -> None:
    assert run_cli("set", name, "--server", "--value", fake("doomed")).code == 0
    result = run_cli("delete", name, "--server", "--yes")
    assert result.code == 0, result
    assert block_document(server, block_name(name)).status_code == 404
    assert_one_line_error(run_cli("delete", name, "--server"), 3)


def test_the_cache_of_this_process_sees_a_write_at_once(
    server: PrefectServer,
    name: str,
    save_block: Callable[[str, Any], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process through the CLI's own entry point: a write drops the cached answer."""
    from prefect_secrets._cli.app import main

    save_block(block_name(name), "fake-before")
    assert Secret(name).get() == "fake-before"
    assert main(["set", name, "--server", "--value", "fake-after", "--yes"]) == 0
    assert Secret(name).get() == "fake-after"
    assert main(["delete", name, "--server", "--yes"]) == 0
    assert not Secret(name).exists()
    assert "fake-after" not in capsys.readouterr().out


def test_no_server_configured_is_said_clearly(
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
    home: Path,
    write_config: Callable[..., Path],
) -> None:
    """No PREFECT_API_URL: a clear error, not Prefect's temporary server started quietly."""
    value = fake("nowhere")
    started = time.monotonic()
    result = run_cli(
        "set",
        unique_name("X"),
        "--server",
        "--value",
        value,
        env={"PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true"},
    )
    elapsed = time.monotonic() - started
    assert_one_line_error(result, 4)
    assert "no Prefect server is configured: set PREFECT_API_URL" in result.stderr
    assert value not in result.output
    assert elapsed < 15  # starting the temporary server takes longer, and is not done
    assert_one_line_error(run_cli("delete", "X", "--server"), 4)
    write_config('[context.secrets]\nP1 = "fake-p1"\n', path=home / ".prefect" / "config.toml")
    assert_one_line_error(run_cli("import-prefect1", "--server"), 4)


def test_an_unreachable_server_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    value = fake("unsent")
    for args in (("set", "X", "--server", "--value", value), ("get", "X"), ("ls",)):
        result = run_cli(*args)
        assert_one_line_error(result, 4)
        assert url in result.stderr
        assert "cannot connect" in result.stderr
        assert value not in result.output
    doctor = run_cli("doctor")
    assert doctor.code == 4
    assert "fix: start the server" in doctor.stdout


def test_doctor_checks_the_server_and_warns_about_its_encryption_key(
    server: PrefectServer,
) -> None:
    result = run_cli("doctor")
    assert result.code == 0, result
    assert f"asked by lookups (server = auto): {server.api_url}" in result.stdout
    assert "reachable; Secret block lookups work" in result.stdout
    assert "PREFECT_SERVER_ENCRYPTION_KEY" in result.stdout
    assert "rotation push" not in result.stdout  # the suite turns push off here


def test_doctor_says_whether_the_server_can_push_rotations(
    server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prefect

    from tests.support.push_reader import server_cannot_push

    monkeypatch.setenv("PREFECT_SECRETS_PUSH_INVALIDATION", "true")
    result = run_cli("doctor")
    assert result.code == 0, result
    if server_cannot_push() is None:
        assert f"rotation push: the server runs Prefect {prefect.__version__}" in result.stdout
    else:  # a server before 3.7.4: a warning, its reason and the fix
        assert f"the server runs Prefect {prefect.__version__}, which emits no block" in (
            result.stdout
        )
        assert "push_invalidation = false" in result.stdout


def test_import_prefect1_into_secret_blocks(
    server: PrefectServer,
    home: Path,
    write_config: Callable[..., Path],
    unique_name: Callable[[str], str],
    save_block: Callable[[str, Any], None],
) -> None:
    fresh, existing = unique_name("P1"), unique_name("P1")
    write_config(
        "[context.secrets]\n"
        f'{fresh} = {{ user = "etl", password = "fake-p1-pw" }}\n'
        f'{existing} = "fake-p1-value"\n',
        path=home / ".prefect" / "config.toml",
    )
    save_block(block_name(existing), "fake-already-there")
    try:
        dry = run_cli("import-prefect1", "--server")
        assert dry.code == 0, dry
        assert f"would create block '{block_name(fresh)}'" in dry.stdout
        assert block_document(server, block_name(fresh)).status_code == 404

        applied = run_cli("import-prefect1", "--server", "--apply")
        assert applied.code == 0, applied
        assert "fake-" not in applied.output
        assert load_block(block_name(fresh)) == {"user": "etl", "password": "fake-p1-pw"}
        assert load_block(block_name(existing)) == "fake-already-there"

        assert run_cli("import-prefect1", "--server", "--apply", "--overwrite").code == 0
        assert load_block(block_name(existing)) == "fake-p1-value"
    finally:
        server.delete_block(block_name(fresh))
