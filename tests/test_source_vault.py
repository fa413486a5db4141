"""The `vault` source against a real OpenBao server (one per module, behind a counting,
fault-injecting proxy: `tests/support/vault.py`).

Values are fake and never printed: checks on them are computed into booleans first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_secrets import Secret, SecretNotFound, SecretSourceError, get_many
from prefect_secrets._cli.output import EXIT_BAD_SETTING, EXIT_NOT_FOUND, EXIT_SOURCE_FAILED
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets._sources.remote import deadline_of
from prefect_secrets._sources.vault import key_of_path, relative_path
from prefect_secrets.sources import MISSING, SecretKey, SourceConfig, UnsupportedBySource
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.vault import VaultServer

MASK = "********"
ORDER = "context,env,vault"
Fake = Callable[[str], str]
Names = Callable[[str], str]


@pytest.fixture(scope="module")
def vault() -> Iterator[VaultServer]:
    with VaultServer() as server:
        yield server


@pytest.fixture(autouse=True)
def vault_env(
    isolated_env: Path, vault: VaultServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """This process talks to the module's server, as VAULT_ADDR/VAULT_TOKEN tell users'."""
    env = {**vault.env(), "PREFECT_SECRETS_SOURCES": ORDER}
    for name in ("VAULT_NAMESPACE", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    vault.clear_faults()
    vault.reset_counts()
    yield env
    vault.clear_faults()


def source() -> Any:
    return source_of_kind("vault", SourceConfig())


def same(a: object, b: object) -> bool:
    return a == b


def data_at(vault: VaultServer, path: str) -> Any:
    """The KV data at `path` (None when absent), read directly as root."""
    status, payload = vault._call("GET", f"/v1/secret/data/{path}", token=vault.root_token)
    return payload["data"]["data"] if status == 200 else None


def settings(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"PREFECT_SECRETS_{name.upper()}", str(value))


# --- reading ------------------------------------------------------------------------------


def test_a_value_written_with_vaults_api_is_found(
    vault: VaultServer, fake: Fake, unique_name: Names
) -> None:
    """`{"value": ...}` at prefect/NAME is the secret NAME; one request, then the cache."""
    name, value = unique_name("DB_PASSWORD"), fake("db")
    vault.put(f"prefect/{name}", {"value": value})
    assert same(Secret(name).get(), value)
    assert same(Secret(name).get(), value)
    assert vault.count("GET", f"/v1/secret/data/prefect/{name}") == 1


def test_other_keys_come_back_as_a_dict(vault: VaultServer, fake: Fake, unique_name: Names) -> None:
    name, password = unique_name("WAREHOUSE"), fake("pw")
    vault.put(f"prefect/{name}", {"user": "etl", "password": password})
    assert same(Secret(name).get(), {"user": "etl", "password": password})


def test_json_text_in_the_value_is_decoded_like_every_source(
    vault: VaultServer, fake: Fake, unique_name: Names
) -> None:
    name, token = unique_name("API"), fake("token")
    vault.put(f"prefect/{name}", {"value": json.dumps({"token": token, "port": 8443})})
    assert same(Secret(name).get(), {"token": token, "port": 8443})
    assert isinstance(Secret(name).get(raw=True), str)


def test_a_missing_secret_is_not_found_and_the_message_names_the_path(
    vault: VaultServer, unique_name: Names
) -> None:
    name = unique_name("ABSENT")
    assert source().exists(SecretKey(name), SourceConfig()) is False
    with pytest.raises(SecretNotFound) as raised:
        Secret(name).get()
    assert f"Vault {vault.url} secret 'secret/prefect/{name}'" in str(raised.value)


def test_exists_asks_the_store_not_the_cache(vault: VaultServer, unique_name: Names) -> None:
    name = unique_name("LATE")
    assert Secret(name).get(default=None) is None  # a miss, cached for cache_miss_ttl
    vault.put(f"prefect/{name}", {"value": "fake-late"})
    assert source().exists(SecretKey(name), SourceConfig()) is True


async def test_async_lookups_run_off_the_event_loop(
    vault: VaultServer, fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("ASYNC"), fake("async")
    vault.put(f"prefect/{name}", {"value": value})
    assert same(await Secret(name).aget(), value)


# --- names and scopes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "path"),
    [
        (SecretKey("DB_PASSWORD"), "DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", "etl", "prod"), "etl/prod/DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", "etl", None), "etl/_/DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", None, "prod"), "_/prod/DB_PASSWORD"),
        (SecretKey("_"), "_"),
        (SecretKey("_", "etl", None), "etl/_/_"),
    ],
)
def test_the_name_mapping_parses_back(key: SecretKey, path: str) -> None:
    assert relative_path(key) == path
    assert key_of_path(path) == key


@pytest.mark.parametrize(
    "path", ["_/_/X", "Etl/_/X", "etl/prod", "a/b/c/d", "etl/prod/bad.name", "", "etl--x/_/X"]
)
def test_paths_that_are_not_this_librarys_have_no_key(path: str) -> None:
    assert key_of_path(path) is None


def test_scoped_secrets_live_under_their_scope_and_fall_back_to_org_wide(
    vault: VaultServer, fake: Fake, unique_name: Names
) -> None:
    name = unique_name("SCOPED")
    both, project_only, org = fake("both"), fake("project"), fake("org")
    config, vault_source = SourceConfig(), source()
    assert vault_source.write(SecretKey(name, "etl", "prod"), both, config) == "created"
    assert vault_source.write(SecretKey(name, "etl", None), project_only, config) == "created"
    assert vault_source.write(SecretKey(name), org, config) == "created"
    assert same(data_at(vault, f"prefect/etl/prod/{name}"), {"value": both})
    assert same(data_at(vault, f"prefect/etl/_/{name}"), {"value": project_only})
    assert same(Secret(name, project="etl", domain="prod").get(), both)
    assert same(Secret(name, project="etl", domain="dev").get(), project_only)
    assert same(Secret(name, project="ml").get(), org)


def test_ls_lists_this_librarys_paths_only(vault: VaultServer, unique_name: Names) -> None:
    name = unique_name("LISTED")
    vault.put(f"prefect/{name}", {"value": "fake-1"})
    vault.put(f"prefect/_/prod/{name}", {"value": "fake-2"})
    vault.put(f"prefect/legacy/app/{name}/extra", {"value": "fake-3"})  # not ours: too deep
    vault.put(f"prefect/Legacy/_/{name}", {"value": "fake-4"})  # not a scope name
    vault.put(f"elsewhere/{name}", {"value": "fake-5"})  # outside the prefix
    keys = set(source().names(SourceConfig()))
    assert {SecretKey(name), SecretKey(name, None, "prod")} <= keys
    assert {key for key in keys if key.name == name} == {
        SecretKey(name),
        SecretKey(name, None, "prod"),
    }
    assert vault.count("LIST", "/v1/secret/metadata/prefect/Legacy*") == 0


def test_mount_and_path_are_settings(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    vault.api("POST", "/v1/sys/mounts/fake-team", {"type": "kv", "options": {"version": "2"}})
    name, value = unique_name("TEAM"), fake("team")
    vault.put(f"flows/prod/{name}", {"value": value}, mount="fake-team")
    settings(monkeypatch, vault_mount="fake-team", vault_path="/flows/prod/")
    assert same(Secret(name).get(), value)
    assert SecretKey(name) in set(source().names(SourceConfig()))


def test_vault_namespace_selects_the_namespace(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    """VAULT_NAMESPACE, as the vault CLI reads it (OpenBao has namespaces too)."""
    vault.api("POST", "/v1/sys/namespaces/fake-ns", {})
    in_namespace = vault.client(namespace="fake-ns")
    in_namespace.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    name, root_value, namespaced = unique_name("NS"), fake("root"), fake("ns")
    vault.put(f"prefect/{name}", {"value": root_value})
    in_namespace.secrets.kv.v2.create_or_update_secret(
        path=f"prefect/{name}", secret={"value": namespaced}, mount_point="secret"
    )
    assert same(Secret(name).get(), root_value)
    monkeypatch.setenv("VAULT_NAMESPACE", "fake-ns")
    assert same(Secret(name).get(), namespaced)  # another namespace: cached answers dropped


# --- writes, rotation, versions, delete -------------------------------------------------------


def test_writes_store_strings_as_value_and_dicts_as_they_are(
    vault: VaultServer, fake: Fake, unique_name: Names
) -> None:
    name, config = unique_name("WRITTEN"), SourceConfig()
    first, second = fake("first"), {"user": "etl", "password": fake("pw")}
    assert source().write(SecretKey(name), first, config) == "created"
    assert same(data_at(vault, f"prefect/{name}"), {"value": first})
    assert source().write(SecretKey(name), second, config) == "replaced"
    assert same(data_at(vault, f"prefect/{name}"), second)
    assert source().write(SecretKey(f"{name}_N"), 42, config) == "created"
    assert Secret(f"{name}_N").get() == 42


def test_rotation_is_seen_when_the_ttl_expires_or_at_once_after_our_write(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    settings(monkeypatch, cache_ttl=1)
    name, old, new, newest = unique_name("ROTATED"), fake("old"), fake("new"), fake("newest")
    vault.put(f"prefect/{name}", {"value": old})
    assert same(Secret(name).get(), old)
    vault.put(f"prefect/{name}", {"value": new})  # rotated by someone else
    assert same(Secret(name).get(), old)  # cached
    time.sleep(1.1)
    assert same(Secret(name).get(), new)
    source().write(SecretKey(name), newest, SourceConfig())
    assert same(Secret(name).get(), newest)


def test_versions_are_listed_without_deleted_ones_and_can_be_pinned(
    vault: VaultServer, fake: Fake, unique_name: Names
) -> None:
    name, values = unique_name("VERSIONED"), [fake("v1"), fake("v2"), fake("v3")]
    for value in values:
        vault.put(f"prefect/{name}", {"value": value})
    vault.api("POST", f"/v1/secret/delete/prefect/{name}", {"versions": [2]})
    config, key = SourceConfig(), SecretKey(name)
    assert source().versions(key, config) == ["1", "3"]
    assert same(source().lookup_version(key, "1", config), values[0])
    assert source().lookup_version(key, "2", config) is MISSING  # deleted
    assert source().lookup_version(key, "9", config) is MISSING  # never written
    assert source().versions(SecretKey(unique_name("NONE")), config) == []
    with pytest.raises(UnsupportedBySource, match="whole numbers"):
        source().lookup_version(key, "latest", config)


def test_a_deleted_latest_version_is_missing_not_the_one_before(
    vault: VaultServer, unique_name: Names
) -> None:
    name = unique_name("SOFT_DELETED")
    vault.put(f"prefect/{name}", {"value": "fake-old"})
    vault.put(f"prefect/{name}", {"value": "fake-current"})
    vault.api("DELETE", f"/v1/secret/data/prefect/{name}")  # `vault kv delete`
    assert Secret(name).get(default=None) is None


def test_delete_removes_every_version(vault: VaultServer, unique_name: Names) -> None:
    name, config = unique_name("DELETED"), SourceConfig()
    vault.put(f"prefect/{name}", {"value": "fake-1"})
    vault.put(f"prefect/{name}", {"value": "fake-2"})
    assert source().delete(SecretKey(name), config) is True
    status, _ = vault._call("GET", f"/v1/secret/metadata/prefect/{name}", token=vault.root_token)
    assert status == 404
    assert source().delete(SecretKey(name), config) is False
    assert SecretKey(name) not in set(source().names(config))


# --- failures -----------------------------------------------------------------------------------


def test_a_policy_denial_is_an_error_asked_once(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    name = unique_name("DENIED")
    vault.put(f"prefect/{name}", {"value": "fake-denied"})
    monkeypatch.setenv("VAULT_TOKEN", vault.denied_token(f"prefect/{name}"))
    vault.reset_counts()
    with pytest.raises(SecretSourceError) as raised:
        Secret(name).get()
    message = str(raised.value)
    assert f"Vault: secret 'secret/prefect/{name}': permission denied (403)" in message
    assert vault.url in message
    assert "fake-denied" not in message
    assert vault.count(route=f"/v1/secret/data/prefect/{name}") == 1  # never retried


def test_an_expired_token_is_an_error_not_a_missing_secret(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    name = unique_name("EXPIRED")
    vault.put(f"prefect/{name}", {"value": "fake-expired"})
    monkeypatch.setenv("VAULT_TOKEN", vault.token([vault.read_policy()], ttl="1s"))
    settings(monkeypatch, cache_ttl=0)
    assert Secret(name).get() is not None
    time.sleep(1.5)
    with pytest.raises(SecretSourceError, match=r"403\): .*expired or was revoked"):
        Secret(name).get()


def test_no_token_and_no_address_say_what_to_set(
    monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(SecretSourceError, match="no token: set VAULT_TOKEN"):
        Secret(unique_name("NO_TOKEN")).get()
    monkeypatch.delenv("VAULT_ADDR")
    with pytest.raises(SecretSourceError, match="no address: set VAULT_ADDR"):
        Secret(unique_name("NO_ADDR")).get()


def test_a_sealed_server_is_an_error(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    settings(monkeypatch, retries=0)
    vault.seal()
    try:
        with pytest.raises(SecretSourceError, match=r"sealed or unavailable \(503\)"):
            Secret(unique_name("SEALED")).get()
    finally:
        vault.unseal()


def test_a_rate_limit_is_an_error(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    """A real quota: past one request in 30 s, the server answers 429 (and Retry-After)."""
    settings(monkeypatch, retries=0, cache_miss_ttl=0)
    name = unique_name("LIMITED")
    vault.rate_limit(1, interval="30s")
    try:
        Secret(name).get(default=None)
        with pytest.raises(SecretSourceError, match=r"rate limited \(429\)"):
            Secret(name).get()
    finally:
        vault.rate_limit(0)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_transient_failure_is_retried(
    vault: VaultServer, fake: Fake, unique_name: Names, status: int
) -> None:
    name, value = unique_name("FLAKY"), fake("flaky")
    vault.put(f"prefect/{name}", {"value": value})
    vault.fail_next(1, status)
    assert same(Secret(name).get(), value)
    assert vault.count(route=f"/v1/secret/data/prefect/{name}") == 2


def test_an_unreachable_server_is_an_error_within_the_deadline(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    settings(monkeypatch, timeout=0.5, retries=1)
    vault.refuse()
    try:
        began = time.monotonic()
        with pytest.raises(SecretSourceError) as raised:
            Secret(unique_name("UNREACHABLE")).get()
        took = time.monotonic() - began
    finally:
        vault.accept()
    assert "unreachable" in str(raised.value)
    assert vault.url in str(raised.value)
    assert took < deadline_of(SourceConfig().settings)


@pytest.mark.parametrize("fault", ["hang", "trickle"])
def test_a_slow_server_is_bounded_by_the_deadline(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Names, fault: str
) -> None:
    """A hung answer ends at the read timeout of each attempt; one trickled byte by byte
    (each read sees progress) only at the total deadline, timeout x (retries + 1) + pauses."""
    settings(monkeypatch, timeout=0.5, retries=1)
    name = unique_name("SLOW")
    vault.hang(route="*/prefect/*") if fault == "hang" else vault.trickle(20, route="*/prefect/*")
    began = time.monotonic()
    with pytest.raises(SecretSourceError) as raised:
        Secret(name).get()
    took = time.monotonic() - began
    deadline = deadline_of(SourceConfig().settings)
    assert took < deadline + 0.5, f"took {took:.1f} s, deadline {deadline:g} s"
    expected = "no answer within 0.5 s" if fault == "hang" else "no complete answer within"
    assert expected in str(raised.value)
    assert f"secret/prefect/{name}" in str(raised.value)
    if fault == "hang":
        assert took < 0.5 * 2 + 1.5  # the read timeouts end it, well before the deadline


# --- many, AppRole --------------------------------------------------------------------------


def test_get_many_reads_each_path_once(vault: VaultServer, fake: Fake, unique_name: Names) -> None:
    names = [unique_name("MANY") for _ in range(5)]
    values = {name: fake("many") for name in names}
    for name, value in values.items():
        vault.put(f"prefect/{name}", {"value": value})
    missing = unique_name("MANY_MISSING")
    found = get_many([*names, missing], default=None)
    assert same(found, {**values, missing: None})
    assert vault.count("GET", "/v1/secret/data/prefect/MANY_*") == 6


def _approle(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, token_ttl: str = "1h"
) -> tuple[str, str]:
    role_id, secret_id = vault.approle(
        "fake-role", policies=[vault.read_policy()], token_ttl=token_ttl
    )
    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("VAULT_ROLE_ID", role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", secret_id)
    settings(monkeypatch, cache_ttl=0)
    return role_id, secret_id


def test_approle_logs_in_once_and_again_when_its_token_expired(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("APPROLE"), fake("approle")
    vault.put(f"prefect/{name}", {"value": value})
    _approle(vault, monkeypatch, token_ttl="2s")
    assert same(Secret(name).get(), value)
    assert same(Secret(name).get(), value)
    assert vault.count("POST", "/v1/auth/approle/login") == 1
    time.sleep(2.3)
    assert same(Secret(name).get(), value)
    assert vault.count("POST", "/v1/auth/approle/login") == 2


def test_approle_renews_its_token_in_the_last_third_of_its_ttl(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("RENEWED"), fake("renewed")
    vault.put(f"prefect/{name}", {"value": value})
    _approle(vault, monkeypatch, token_ttl="4s")
    assert same(Secret(name).get(), value)
    time.sleep(2.8)  # past 2/3 of the TTL, well before its end
    assert same(Secret(name).get(), value)
    assert vault.count("POST", "/v1/auth/approle/login") == 1
    assert vault.count(route="/v1/auth/token/renew-self") == 1


def test_approle_logs_in_again_after_its_token_was_revoked(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("REVOKED"), fake("revoked")
    vault.put(f"prefect/{name}", {"value": value})
    _approle(vault, monkeypatch)
    assert same(Secret(name).get(), value)
    accessors = vault.api("LIST", "/v1/auth/token/accessors")["data"]["keys"]
    for accessor in accessors:
        info = vault.api("POST", "/v1/auth/token/lookup-accessor", {"accessor": accessor})
        if "fake-read" in info["data"]["policies"]:
            vault.api("POST", "/v1/auth/token/revoke-accessor", {"accessor": accessor})
    assert same(Secret(name).get(), value)
    assert vault.count("POST", "/v1/auth/approle/login") == 2


def test_a_rejected_approle_login_is_an_error_without_the_ids(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    role_id, _ = _approle(vault, monkeypatch)
    monkeypatch.setenv("VAULT_SECRET_ID", "fake-wrong-secret-id")
    with pytest.raises(SecretSourceError) as raised:
        Secret(unique_name("BAD_LOGIN")).get()
    message = str(raised.value)
    assert "AppRole login refused: rejected as invalid (400)" in message
    assert role_id not in message
    assert "fake-wrong-secret-id" not in message


def test_the_secret_id_can_be_another_secret(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    """`secret_id_name` names a secret of the other sources (here an env var)."""
    name, value = unique_name("VIA_NAMED_ID"), fake("named")
    vault.put(f"prefect/{name}", {"value": value})
    _, secret_id = _approle(vault, monkeypatch)
    monkeypatch.delenv("VAULT_SECRET_ID")
    settings(monkeypatch, vault_secret_id_name="FAKE_APPROLE_SECRET_ID")
    with pytest.raises(SecretSourceError, match=r"'FAKE_APPROLE_SECRET_ID'.* is not set"):
        Secret(name).get()
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__FAKE_APPROLE_SECRET_ID", secret_id)
    assert same(Secret(name).get(), value)


def test_doctor_check_reports_the_mount_and_refuses_kv_version_1(
    vault: VaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "KV v2 mount 'secret' at " in source().check(SourceConfig())
    vault.api("POST", "/v1/sys/mounts/fake-kv1", {"type": "kv", "options": {"version": "1"}})
    settings(monkeypatch, vault_mount="fake-kv1")
    with pytest.raises(SecretSourceError, match="not a KV version 2 mount"):
        source().check(SourceConfig())


# --- as users run it ----------------------------------------------------------------------


def test_the_cli_sets_gets_lists_and_deletes_in_vault(
    vault: VaultServer, vault_env: dict[str, str], fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("CLI"), fake("cli")
    written = run_cli("set", name, "--store", "vault", "--value", value)
    assert written.code == 0, written.code
    assert f"Saved secret '{name}': Vault" in written.stdout
    assert same(data_at(vault, f"prefect/{name}"), {"value": value})

    shown = run_cli("get", name)
    assert shown.code == 0
    assert MASK in shown.stdout
    assert f"from Vault {vault.url} secret 'secret/prefect/{name}'" in shown.stdout
    revealed = run_cli("get", name, "--reveal")
    assert same(revealed.stdout.strip(), value)

    listing = run_cli("ls", "--json")
    rows = [row for row in json.loads(listing.stdout) if row["name"] == name]
    assert [(row["source"], row["location"]) for row in rows] == [
        ("vault", f"Vault {vault.url} secret 'secret/prefect/{name}'")
    ]
    which = run_cli("which", name)
    assert which.code == 0
    assert f"secret/prefect/{name}" in which.stdout

    replaced = run_cli("set", name, "--store", "vault", "--json", "--yes", "--value", '{"a": 1}')
    assert replaced.code == 0
    assert "Replaced secret" in replaced.stdout
    deleted = run_cli("delete", name, "--store", "vault", "--yes")
    assert deleted.code == 0
    assert "Deleted secret" in deleted.stdout
    assert data_at(vault, f"prefect/{name}") is None
    assert run_cli("get", name).code == EXIT_NOT_FOUND
    outputs = [written, shown, listing, which, replaced, deleted]
    assert sum(value in result.output for result in outputs) == 0


def test_the_cli_reports_a_denied_path_in_one_line(vault: VaultServer, unique_name: Names) -> None:
    name = unique_name("CLI_DENIED")
    vault.put(f"prefect/{name}", {"value": "fake-cli-denied"})
    result = run_cli("get", name, env={"VAULT_TOKEN": vault.denied_token(f"prefect/{name}")})
    assert_one_line_error(result, EXIT_SOURCE_FAILED)
    assert "permission denied (403)" in result.stderr
    assert "fake-cli-denied" not in result.output


def test_without_hvac_installed_the_error_says_which_extra(tmp_path: Path) -> None:
    """hvac's import is blocked by a shim earlier on the path, as if it were not installed."""
    shim = tmp_path / "shim" / "hvac"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('hvac is blocked by this test')\n")
    result = run_cli("get", "ANY_NAME", env={"PYTHONPATH": str(shim.parent)})
    assert_one_line_error(result, EXIT_BAD_SETTING)
    assert "source 'vault' needs hvac: pip install \"prefect-secrets[vault]\"" in result.stderr


def test_import_prefect_secrets_imports_no_sdk() -> None:
    code = "import sys, prefect_secrets; print({'hvac', 'keyring', 'prefect'} & set(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "set()", result.stderr[-2000:]


FLOW = """
import sys
from prefect import flow, get_run_logger
from prefect_secrets import Secret

@flow
def uses_vault() -> bool:
    value = Secret(sys.argv[1]).get()
    get_run_logger().info("connecting with %s", value)
    print(f"printed: {value}")
    return True

uses_vault()
"""


def test_a_value_from_vault_is_masked_in_flow_logs_and_prints(
    vault: VaultServer, prefect_server: Any, fake: Fake, unique_name: Names, tmp_path: Path
) -> None:
    name, value = unique_name("MASKED"), fake("masked")
    vault.put(f"prefect/{name}", {"value": value})
    result = subprocess.run(
        [sys.executable, "-c", FLOW, name],
        env={**os.environ, "PREFECT_API_URL": prefect_server.api_url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    leaked = value in result.stdout or value in result.stderr
    assert result.returncode == 0, result.stderr[-3000:] if not leaked else "failed"
    assert not leaked
    assert f"printed: {MASK}" in result.stdout
    assert f"connecting with {MASK}" in result.stdout + result.stderr
