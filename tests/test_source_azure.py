"""Azure Key Vault (`kind = "azure"`), against `AzureKeyVaultServer` (HTTPS, challenge auth,
a fake Entra ID) reached as production code reaches Azure: `DefaultAzureCredential` from env
vars alone and the vault's real-looking URL, through a local CONNECT proxy (`kv.env()`).

Values are fake and never printed: checks on them are computed into booleans or counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_secrets import (
    Secret,
    SecretNotFound,
    SecretSourceError,
    SettingsError,
    UnsupportedBySource,
    get_many,
)
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._config.store import UnstorableValueError
from prefect_secrets._sources.azure import AzureSource
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets._sources.remote import deadline_of
from prefect_secrets.sources import MISSING, SecretKey
from tests.support.azure import AzureKeyVaultServer
from tests.support.cli import run_cli
from tests.support.servers import PrefectServer

MASK = "********"


@pytest.fixture(scope="module")
def kv_server() -> Iterator[AzureKeyVaultServer]:
    with AzureKeyVaultServer() as started:
        yield started


@pytest.fixture
def kv(
    kv_server: AzureKeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AzureKeyVaultServer]:
    """Lookups ask env vars, then the vault; faults and revocations are undone after."""
    for name, value in kv_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "env,azure")
    monkeypatch.setenv("PREFECT_SECRETS_AZURE_VAULT_URL", kv_server.public_vault_url)
    yield kv_server
    kv_server.clear_faults()
    kv_server.accept()
    kv_server.add_client(kv_server.client_id, kv_server.client_secret)


def source() -> AzureSource:
    found = source_of_kind("azure", SourceConfig())
    assert isinstance(found, AzureSource)
    return found


def bounds(monkeypatch: pytest.MonkeyPatch, timeout: float, retries: int) -> float:
    """Set `timeout` and `retries` and build their client (its first request gets a token,
    which no fault should hit); the most one lookup may then take."""
    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", str(timeout))
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", str(retries))
    assert not Secret("WARM_UP_THE_CLIENT").exists()
    return deadline_of(SourceConfig().settings)


def vault_id(kv: AzureKeyVaultServer, name: str) -> str:
    return f"{kv.public_vault_url}/secrets/{name}"


# --- reading ---------------------------------------------------------------------------------


def test_a_secret_is_read_with_default_azure_credential(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, value = unique_name("DB_PASSWORD"), fake("db")
    stored_as = name.lower().replace("_", "-")
    kv.set_secret(stored_as, value)
    read = Secret(name).get() == value
    assert read
    assert Secret(name).exists()
    assert Secret(name).source() == f"Azure Key Vault secret '{vault_id(kv, stored_as)}'"
    assert kv.tokens_issued, "a token came from Entra ID"
    assert kv.proxy.tunnels[f"{kv.vault_name}.vault.azure.net"] >= 1


def test_names_fold_as_block_names_do(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    """Key Vault allows no `_` and ignores case: API_KEY, api_key and api-key are one."""
    name, value = unique_name("API_KEY"), fake("api")
    folded = name.lower().replace("_", "-")
    kv.set_secret(folded.upper(), value)  # as someone made it in the portal
    spellings = [name, name.lower(), folded]
    assert [Secret(spelling).get() == value for spelling in spellings] == [True] * 3
    assert {source().canonical_name(spelling) for spelling in spellings} == {folded}
    assert SecretKey(folded) in set(source().names(SourceConfig()))


def test_a_missing_secret_is_not_found_naming_the_vault(
    kv: AzureKeyVaultServer, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("MISSING")
    with pytest.raises(SecretNotFound) as caught:
        Secret(name).get()
    where = vault_id(kv, name.lower().replace("_", "-"))
    assert f"Azure Key Vault secret '{where}'" in str(caught.value)
    assert not Secret(name).exists()


def test_scoped_secrets_and_the_scope_chain(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("SCOPED")
    folded = name.lower().replace("_", "-")
    org, etl_prod, etl = fake("org"), fake("etl-prod"), fake("etl")
    kv.set_secret(folded, org)
    kv.set_secret(f"scope--etl--prod--{folded}", etl_prod)
    kv.set_secret(f"scope--etl----{folded}", etl)
    found = [
        Secret(name, project="etl", domain="prod").get() == etl_prod,
        Secret(name, project="etl", domain="dev").get() == etl,
        Secret(name, project="ml", domain="prod").get() == org,
    ]
    assert found == [True] * 3
    assert set(source().names(SourceConfig())) >= {
        SecretKey(folded),
        SecretKey(folded, "etl", "prod"),
        SecretKey(folded, "etl", None),
    }


@pytest.mark.parametrize(
    ("key", "stored_as", "listed_as"),
    [
        (SecretKey("DB_PASSWORD"), "db-password", SecretKey("db-password")),
        (
            SecretKey("DB_PASSWORD", "etl", "prod"),
            "scope--etl--prod--db-password",
            SecretKey("db-password", "etl", "prod"),
        ),
        (SecretKey("db-password", None, "prod"), "scope----prod--db-password", None),
        (SecretKey("SCOPE__X"), "scope------scope--x", SecretKey("scope--x")),
    ],
)
def test_names_map_both_ways_unambiguously(
    kv: AzureKeyVaultServer,
    monkeypatch: pytest.MonkeyPatch,
    key: SecretKey,
    stored_as: str,
    listed_as: SecretKey | None,
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_AZURE_PREFIX", "Prefect-")
    config = SourceConfig()
    assert source().store_name(key, config) == vault_id(kv, f"prefect-{stored_as}")
    assert source().key_of(vault_id(kv, f"PREFECT-{stored_as.upper()}"), config) == (
        listed_as or key
    )
    assert source().key_of(vault_id(kv, stored_as), config) is None  # no prefix: not ours


def test_json_is_decoded(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, password = unique_name("WAREHOUSE"), fake("warehouse")
    stored = json.dumps({"user": "etl_loader", "password": password})
    kv.set_secret(name.lower().replace("_", "-"), stored)
    decoded = Secret(name).get() == {"user": "etl_loader", "password": password}
    raw = Secret(name).get(raw=True) == stored
    assert (decoded, raw) == (True, True)


async def test_async_lookups(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, value = unique_name("ASYNC"), fake("async")
    kv.set_secret(name.lower().replace("_", "-"), value)
    read = await Secret(name).aget() == value
    assert read
    assert not await Secret(unique_name("ASYNC_MISSING")).aexists()


def test_get_many_reads_each_secret_once(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    names = [unique_name("MANY") for _ in range(5)]
    values = {name: fake("many") for name in names}
    for name, value in values.items():
        kv.set_secret(name.lower().replace("_", "-"), value)
    assert not Secret(unique_name("WARM")).exists()  # the client holds a token
    kv.reset_counts()
    read = get_many(names) == values
    assert read
    assert kv.count("GET", "secrets.get") == 5
    missing = unique_name("MANY_MISSING")
    with pytest.raises(SecretNotFound) as caught:
        get_many([*names, missing])
    assert caught.value.names == (missing,)
    assert kv.count("GET", "secrets.get") == 6


def test_a_name_too_long_for_the_vault_is_never_asked_for(kv: AzureKeyVaultServer) -> None:
    kv.reset_counts()
    assert source().lookup(SecretKey("L" * 128), SourceConfig()) is MISSING
    assert kv.total() == 0
    with pytest.raises(UnsupportedBySource, match="at most 127 characters"):
        source().write(SecretKey("L" * 128), "fake-long", SourceConfig())


def test_without_a_vault_url_the_error_names_the_setting(
    kv: AzureKeyVaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_SECRETS_AZURE_VAULT_URL")
    with pytest.raises(SettingsError, match="PREFECT_SECRETS_AZURE_VAULT_URL"):
        Secret("ANY").get()


# --- rotation and versions ------------------------------------------------------------------


def test_a_new_version_is_seen_once_the_ttl_expires(
    kv: AzureKeyVaultServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "0.5")
    name, old, new = unique_name("ROTATED"), fake("old"), fake("new")
    kv.set_secret(name.lower().replace("_", "-"), old)
    first = Secret(name).get() == old
    kv.set_secret(name.lower().replace("_", "-"), new)  # rotated by someone else
    cached = Secret(name).get() == old
    time.sleep(0.6)
    rotated = Secret(name).get() == new
    assert (first, cached, rotated) == (True, True, True)


def test_a_write_through_the_library_is_seen_at_once(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, old, new = unique_name("WRITTEN"), fake("old"), fake("new")
    kv.set_secret(name.lower().replace("_", "-"), old)
    first = Secret(name).get() == old
    assert source().write(SecretKey(name), new, SourceConfig()) == "replaced"
    seen = Secret(name).get() == new
    assert (first, seen) == (True, True)
    assert len(kv.versions(name.lower().replace("_", "-"))) == 2


def test_versions_pinned_and_listed(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("VERSIONED")
    values = [fake(f"v{n}") for n in (1, 2, 3)]
    ids = [
        kv.set_secret(name.lower().replace("_", "-"), value, enabled=n != 1)
        for n, value in enumerate(values)
    ]
    azure, config, key = source(), SourceConfig(), SecretKey(name)
    assert azure.versioned
    assert azure.versions(key, config) == [ids[0], ids[2]]  # enabled ones, oldest first
    pinned = [azure.lookup_version(key, ids[n], config) == values[n] for n in (0, 2)]
    assert pinned == [True, True]
    assert azure.lookup_version(key, "0" * 32, config) is MISSING
    with pytest.raises(SecretSourceError, match=f"version {ids[1]} is disabled"):
        azure.lookup_version(key, ids[1], config)
    with pytest.raises(SecretSourceError, match="versions are 32 hex digits"):
        azure.lookup_version(key, "../other", config)
    assert azure.versions(SecretKey(unique_name("NO_VERSIONS")), config) == []


def test_a_disabled_latest_version_is_an_error_not_a_miss(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("DISABLED")
    kv.set_secret(name.lower().replace("_", "-"), fake("v1"))
    kv.set_secret(name.lower().replace("_", "-"), fake("v2"), enabled=False)
    with pytest.raises(SecretSourceError, match=r"its latest version is disabled \(403"):
        Secret(name).get()


# --- writing and deleting -------------------------------------------------------------------


def test_write_stores_text_and_json(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, config = unique_name("STORED"), SourceConfig()
    key = SecretKey(name, "etl", "prod")
    assert source().write(key, fake("first"), config) == "created"
    assert source().write(key, {"user": "etl", "port": 5432}, config) == "replaced"
    stored = kv.versions(f"scope--etl--prod--{name.lower().replace('_', '-')}")
    assert stored[1]["value"] == '{"user":"etl","port":5432}'  # JSON text: not a value
    assert Secret(name, project="etl", domain="prod").get() == {"user": "etl", "port": 5432}
    with pytest.raises(UnstorableValueError, match="stores text"):
        source().write(key, b"\xff\x00", config)
    with pytest.raises(UnstorableValueError, match="at most 25 KiB"):
        source().write(key, "x" * (26 * 1024), config)
    assert len(kv.versions(f"scope--etl--prod--{name.lower().replace('_', '-')}")) == 2


def test_delete_is_a_soft_delete_and_never_purges(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, config = unique_name("DELETED"), SourceConfig()
    folded = name.lower().replace("_", "-")
    kv.set_secret(folded, fake("deleted"))
    kv.reset_counts()
    assert source().delete(SecretKey(name), config)
    assert kv.is_deleted(folded)
    assert kv.count("DELETE", "deleted.purge") == 0
    assert not Secret(name).exists()
    assert not source().delete(SecretKey(name), config)


def test_writing_a_soft_deleted_name_is_refused_saying_how_to_recover_or_purge(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, config = unique_name("REUSED"), SourceConfig()
    folded = name.lower().replace("_", "-")
    kv.set_secret(folded, fake("old"))
    source().delete(SecretKey(name), config)
    with pytest.raises(SecretSourceError) as caught:
        source().write(SecretKey(name), fake("new"), config)
    message = str(caught.value)
    assert "deleted but recoverable (soft delete)" in message
    assert "nothing was saved" in message
    assert f"az keyvault secret recover --vault-name {kv.vault_name} --name {folded}" in message
    assert f"az keyvault secret purge --vault-name {kv.vault_name} --name {folded}" in message
    assert kv.is_deleted(folded)


# --- failures --------------------------------------------------------------------------------


def test_access_denied_is_an_error_naming_the_vault_and_never_retried(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("DENIED")
    folded = name.lower().replace("_", "-")
    kv.set_secret(folded, fake("denied"))
    kv.deny(folded)
    assert not Secret(unique_name("WARM")).exists()
    kv.reset_counts()
    with pytest.raises(SecretSourceError) as caught:
        Secret(name).get()
    message = str(caught.value)
    assert message.startswith(f"Azure Key Vault: secret '{vault_id(kv, folded)}'")
    assert "access denied (403 Forbidden, AccessDenied)" in message
    assert kv.count("GET", "secrets.get") == 1


def test_expired_credentials_are_an_error_then_replaced(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    """A credential serves its cached token until it expires: after a 401, the next
    lookup builds a new one."""
    name = unique_name("EXPIRED")
    kv.set_secret(name.lower().replace("_", "-"), fake("expired"))
    assert not Secret(unique_name("WARM")).exists()
    kv.expire_tokens()
    with pytest.raises(SecretSourceError, match=r"credentials were rejected \(401 Unauthorized"):
        Secret(name).get()
    assert Secret(name).exists()


def test_no_credentials_is_an_error_saying_where_to_look(
    kv: AzureKeyVaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Callable[[str], str]
) -> None:
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", "4.5")  # another client: new credentials
    with pytest.raises(SecretSourceError, match="DefaultAzureCredential found no credentials"):
        Secret(unique_name("NO_CREDENTIALS")).get()


def test_doctor_checks_that_the_vault_can_be_listed(kv: AzureKeyVaultServer) -> None:
    assert source().check(SourceConfig()) == f"listed the secrets of vault {kv.public_vault_url}"
    doctor = run_cli("doctor")  # as users run it: the source is asked, and passes
    assert f"azure: listed the secrets of vault {kv.public_vault_url}" in doctor.stdout, (
        doctor.output
    )


def test_a_revoked_client_secret_is_an_error(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("REVOKED")
    kv.set_secret(name.lower().replace("_", "-"), fake("revoked"))
    assert not Secret(unique_name("WARM")).exists()
    kv.revoke_client()
    kv.expire_tokens()
    with pytest.raises(SecretSourceError, match="credentials were rejected"):
        Secret(name).get()  # the cached token, refused
    with pytest.raises(SecretSourceError, match="could not get a token"):
        Secret(name).get()  # a new credential, refused by Entra ID


def test_throttling_is_retried_then_reported(
    kv: AzureKeyVaultServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    bounds(monkeypatch, 2.0, 1)
    name, value = unique_name("THROTTLED"), fake("throttled")
    kv.set_secret(name.lower().replace("_", "-"), value)
    kv.fail_next(1, 429, headers={"Retry-After": "0"}, route="secrets.get")
    read = Secret(name).get() == value  # one retry absorbs one 429
    assert read
    source().invalidate()
    kv.fail_next(5, 429, headers={"Retry-After": "0"}, route="secrets.get")
    kv.reset_counts()
    with pytest.raises(SecretSourceError, match=r"throttled \(429 Throttled\), 2 attempts"):
        Secret(name).get()
    assert kv.count("GET", "secrets.get") == 2


def test_an_unreachable_vault_is_an_error_within_the_deadline(
    kv: AzureKeyVaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Callable[[str], str]
) -> None:
    deadline = bounds(monkeypatch, 1.0, 1)
    kv.refuse()
    started = time.monotonic()
    with pytest.raises(SecretSourceError, match="unreachable, 2 attempts"):
        Secret(unique_name("REFUSED")).get()
    assert time.monotonic() - started < deadline


def test_a_vault_that_hangs_is_abandoned_after_timeout_times_attempts(
    kv: AzureKeyVaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Callable[[str], str]
) -> None:
    deadline = bounds(monkeypatch, 0.5, 1)
    kv.hang(route="secrets.get")
    kv.reset_counts()
    started = time.monotonic()
    with pytest.raises(SecretSourceError, match=r"no answer within 0.5 s, 2 attempts"):
        Secret(unique_name("HUNG")).get()
    elapsed = time.monotonic() - started
    assert 0.5 * 2 <= elapsed < deadline
    assert kv.count("GET", "secrets.get") == 2


def test_a_vault_that_trickles_is_cut_off_at_the_deadline(
    kv: AzureKeyVaultServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    """Each read sees a byte in time, so only the total deadline ends it."""
    deadline = bounds(monkeypatch, 0.5, 0)
    name = unique_name("TRICKLED")
    kv.set_secret(name.lower().replace("_", "-"), fake("trickled"))
    kv.trickle(50, route="secrets.get")
    started = time.monotonic()
    with pytest.raises(SecretSourceError, match="no complete answer within"):
        Secret(name).get()
    elapsed = time.monotonic() - started
    assert deadline - 0.1 <= elapsed < deadline + 0.5


# --- the command line, masking, the extra ---------------------------------------------------


def test_the_cli_sets_gets_lists_explains_and_deletes(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, value = unique_name("CLI"), fake("cli")
    folded = name.lower().replace("_", "-")
    where = f"Azure Key Vault secret '{vault_id(kv, folded)}'"
    outputs = []

    saved = run_cli("set", name, "--store", "azure", stdin=value)
    outputs.append(saved.output)
    assert saved.code == 0
    assert f"Saved secret '{name}': {where}." in saved.stdout
    shown = run_cli("get", name)
    outputs.append(shown.output)
    assert shown.code == 0
    assert f"{name}: {MASK} (string)" in shown.stdout
    revealed = run_cli("get", name, "--reveal")
    assert revealed.code == 0
    assert revealed.stdout.count(value) == 1  # the one command that prints a value
    listed = run_cli("ls", "--json")
    outputs.append(listed.output)
    rows = [r["name"] for r in json.loads(listed.stdout) if r["source"] == "azure"]
    assert folded in rows
    which = run_cli("which", name, "--json")
    outputs.append(which.output)
    statuses = [(p["source"], p["status"]) for p in json.loads(which.stdout)]
    assert statuses == [("env", "absent"), ("azure", "found")]
    deleted = run_cli("delete", name, "--store", "azure", "--yes")
    outputs.append(deleted.output)
    assert deleted.code == 0
    assert f"Deleted secret '{name}' from {where}." in deleted.stdout
    assert run_cli("get", name).code == 3
    again = run_cli("set", name, "--store", "azure", stdin=fake("again"))
    outputs.append(again.output)
    assert again.code == 4
    assert "deleted but recoverable (soft delete)" in again.stderr
    assert [output.count(value) for output in outputs] == [0] * len(outputs)


def test_ls_knows_api_key_and_api_dash_key_are_one_secret(
    kv: AzureKeyVaultServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("API_KEY")
    kv.set_secret(name.lower().replace("_", "-"), fake("vault"))
    listed = run_cli("ls", "--json", env={f"PREFECT__CONTEXT__SECRETS__{name}": fake("env")})
    assert listed.code == 0
    folded = name.lower().replace("_", "-")
    rows = [
        (row["source"], row["name"], row["shadowed"])
        for row in json.loads(listed.stdout)
        if row["name"].lower().replace("_", "-") == folded
    ]
    assert sorted(rows) == [("azure", folded, True), ("env", name, False)]


def test_without_the_extra_the_error_says_what_to_install(
    kv: AzureKeyVaultServer, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    shim = tmp_path / "no-azure-sdk"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['azure.keyvault.secrets'] = None  # as if not installed\n"
    )
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)
    result = run_cli("get", unique_name("NO_SDK"), env={"PYTHONPATH": path})
    assert result.code == 5, result.output
    assert 'pip install "prefect-secrets[azure]"' in result.stderr


def test_importing_the_package_or_the_source_imports_no_sdk() -> None:
    code = (
        "import sys, prefect_secrets, prefect_secrets._sources.azure\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure', 'google', 'prefect.'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


FLOW = """
import sys

from prefect import flow, get_run_logger

from prefect_secrets import Secret


@flow(log_prints=True)
def connect(name: str) -> int:
    token = Secret(name).get()
    get_run_logger().info("connecting with token %s", token)
    print(f"printed token={token}")
    return len(token)


if __name__ == "__main__":
    length = connect(sys.argv[1])
    print(f"after the flow: {Secret(sys.argv[1]).get()} ({length} characters)")
"""


def test_a_value_from_the_vault_is_masked_in_a_flows_logs_and_prints(
    kv: AzureKeyVaultServer,
    prefect_server: PrefectServer,
    tmp_path: Path,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    name, value = unique_name("MASKED"), fake("masked")
    kv.set_secret(name.lower().replace("_", "-"), value)
    script = tmp_path / "connect.py"
    script.write_text(FLOW)
    result = subprocess.run(
        [sys.executable, str(script), name],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_API_URL": prefect_server.api_url},
        timeout=180,
    )
    output = result.stdout + result.stderr
    leaked = output.count(value)
    assert result.returncode == 0, output[-3000:] if not leaked else "(output holds the value)"
    assert leaked == 0
    assert f"connecting with token {MASK}" in output
    assert f"printed token={MASK}" in output
    assert f"after the flow: {MASK} ({len(value)} characters)" in result.stdout
