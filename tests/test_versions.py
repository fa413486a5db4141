"""Pinned versions, `Secret(name, version=...)`, against the real servers the suite uses:
moto (AWS), OpenBao (Vault), the fake GCP and Azure servers; and the sources without
versions, where a pin is one clear error, never "latest".

Values are fake and never printed: checks on them are computed into booleans first.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_secrets import (
    Secret,
    SecretNotFound,
    UnsupportedBySource,
    context,
    with_secrets,
)
from prefect_secrets._masking.registry import redact
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets.sources import SecretKey, SourceConfig
from tests.support.aws import MotoServer
from tests.support.azure import AzureKeyVaultServer
from tests.support.cli import run_cli
from tests.support.gce_metadata import GceMetadataServer
from tests.support.gcp import GcpSecretManagerServer
from tests.support.vault import VaultServer

pytest_plugins = ["tests.support.aws_fixtures"]

Fake = Callable[[str], str]
Names = Callable[[str], str]
GET = "secretsmanager.GetSecretValue"
GCP_PROJECT = "fake-project"


def rotated_aws(aws: MotoServer, name: str, values: list[str]) -> list[str]:
    """`prefect/<name>` created with values[0], then rotated to each next one: version ids."""
    client = aws.client()
    ids = [client.create_secret(Name=f"prefect/{name}", SecretString=values[0])["VersionId"]]
    for value in values[1:]:
        ids.append(
            client.put_secret_value(SecretId=f"prefect/{name}", SecretString=value)["VersionId"]
        )
    return ids


# --- the handle ------------------------------------------------------------------------------


def test_the_version_is_part_of_the_handle_and_survives_pickling() -> None:
    pinned = Secret("DB_PASSWORD", project="etl", version="3")
    assert repr(pinned) == "Secret('DB_PASSWORD', project='etl', version='3')"
    assert pickle.loads(pickle.dumps(pinned)) == pinned
    assert pickle.loads(pickle.dumps(pinned)).version == "3"
    assert pinned != Secret("DB_PASSWORD", project="etl")
    assert Secret("DB_PASSWORD").version is None


@pytest.mark.parametrize("version", ["", " 3", "a b", "x" * 256, "\n"])
def test_a_version_that_no_store_can_have_is_refused_at_once(version: str) -> None:
    with pytest.raises(ValueError, match="invalid version"):
        Secret("DB_PASSWORD", version=version)


# --- sources without versions ------------------------------------------------------------------


def test_a_pin_on_a_secret_held_by_env_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "context,env,file")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__PINNED", "fake-env-value")
    with pytest.raises(UnsupportedBySource) as raised:
        Secret("PINNED", version="3").get()
    message = str(raised.value)
    assert "'PINNED'" in message
    assert "'3'" in message
    assert "env var PREFECT__CONTEXT__SECRETS__PINNED" in message
    assert "fake-env-value" not in message
    with pytest.raises(UnsupportedBySource):  # a default is for missing secrets, not this
        Secret("PINNED", version="3").get(default=None)
    unpinned = Secret("PINNED").get() == "fake-env-value"  # unpinned: as ever
    assert unpinned


def test_a_pin_on_a_secret_in_the_context_is_an_error_naming_the_context() -> None:
    context.secrets["IN_CONTEXT"] = "fake-context-value"
    with pytest.raises(UnsupportedBySource, match="source 'context' keeps no versions"):
        Secret("IN_CONTEXT", version="1").get()


def test_a_pin_with_no_versioned_source_in_the_order_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "context,env,file")
    with pytest.raises(UnsupportedBySource, match=r"no source in the order \(context, env, file\)"):
        Secret("NOWHERE", version="3").get()


# --- AWS Secrets Manager -----------------------------------------------------------------------


def test_aws_pins_an_older_version_after_a_rotation(
    aws: MotoServer, fake: Fake, unique_name: Names
) -> None:
    name, values = unique_name("ROTATED"), [fake("v1"), fake("v2")]
    ids = rotated_aws(aws, name, values)
    checks = [
        Secret(name, version=ids[0]).get() == values[0],
        Secret(name, version="AWSPREVIOUS").get() == values[0],
        Secret(name, version=ids[1]).get() == values[1],
        Secret(name).get() == values[1],  # latest is still latest
        Secret(name, version=ids[0]).exists(),
    ]
    assert checks == [True] * 5
    assert Secret(name, version=ids[0]).source() == f"AWS Secrets Manager secret 'prefect/{name}'"


async def test_aws_pins_from_async_code(aws: MotoServer, fake: Fake, unique_name: Names) -> None:
    name, values = unique_name("ASYNC"), [fake("v1"), fake("v2")]
    ids = rotated_aws(aws, name, values)
    old = await Secret(name, version=ids[0]).aget() == values[0]
    assert old
    assert await Secret(name, version=ids[0]).aexists()


def test_pinned_answers_are_cached_apart_from_latest_and_masked(
    aws: MotoServer, fake: Fake, unique_name: Names
) -> None:
    name, values = unique_name("CACHED"), [fake("v1"), fake("v2")]
    ids = rotated_aws(aws, name, values)
    before = aws.count(route=GET)
    answers = [Secret(name, version=ids[0]).get(), Secret(name).get()]
    assert aws.count(route=GET) - before == 2  # two answers, two requests
    again = [Secret(name, version=ids[0]).get(), Secret(name).get()]
    assert aws.count(route=GET) - before == 2  # both cached, neither for the other
    assert [a == b for a, b in zip(answers + again, values * 2, strict=True)] == [True] * 4
    assert values[0] not in redact(f"old: {values[0]}")


def test_an_unknown_version_is_not_found_naming_the_version(
    aws: MotoServer, fake: Fake, unique_name: Names
) -> None:
    name = unique_name("UNKNOWN")
    rotated_aws(aws, name, [fake("v1")])
    missing = "01234567-89ab-cdef-0123-456789abcdef"
    with pytest.raises(SecretNotFound) as raised:
        Secret(name, version=missing).get()
    assert raised.value.version == missing
    assert f"version {missing!r}" in str(raised.value)
    assert "holds the secret, not this version" in str(raised.value)
    assert Secret(name, version=missing).get(default=None) is None
    assert not Secret(name, version=missing).exists()
    assert pickle.loads(pickle.dumps(raised.value)).version == missing


def test_a_pin_on_a_secret_no_source_has_lists_every_place(aws: MotoServer) -> None:
    with pytest.raises(SecretNotFound, match=r"version 'AWSPREVIOUS' not found") as raised:
        Secret("NOT_IN_AWS", version="AWSPREVIOUS").get()
    assert "prefect/NOT_IN_AWS" in str(raised.value)


def test_env_above_aws_holding_the_name_is_an_error_not_latest(
    aws: MotoServer, fake: Fake, unique_name: Names, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pin cannot be honoured by env; AWS's older version below it is not taken either."""
    name = unique_name("SHADOWED")
    ids = rotated_aws(aws, name, [fake("v1"), fake("v2")])
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "env,aws")
    monkeypatch.setenv(f"PREFECT__CONTEXT__SECRETS__{name}", "fake-env")
    with pytest.raises(UnsupportedBySource, match=f"PREFECT__CONTEXT__SECRETS__{name} holds it"):
        Secret(name, version=ids[0]).get()
    monkeypatch.delenv(f"PREFECT__CONTEXT__SECRETS__{name}")
    assert Secret(name, version=ids[0]).source().startswith("AWS Secrets Manager")


def test_with_secrets_injects_the_pinned_version(
    aws: MotoServer, fake: Fake, unique_name: Names
) -> None:
    name, values = unique_name("INJECTED"), [fake("v1"), fake("v2")]
    ids = rotated_aws(aws, name, values)

    @with_secrets(Secret(name, as_env_var="FAKE_INJECTED", version=ids[0]))
    def seen() -> bool:
        return os.environ["FAKE_INJECTED"] == values[0]

    assert seen()


def test_cli_get_version_and_ls_versions_show_no_value(
    aws: MotoServer, fake: Fake, unique_name: Names
) -> None:
    name, values = unique_name("CLI"), [fake("v1"), fake("v2")]
    ids = rotated_aws(aws, name, values)
    shown = run_cli("get", name, "--version", ids[0], "--json")
    assert shown.code == 0, shown.stderr
    assert json.loads(shown.stdout)["version"] == ids[0]
    revealed = run_cli("get", name, "--version", "AWSPREVIOUS", "--reveal")
    assert revealed.code == 0
    old = revealed.stdout.strip() == values[0]
    assert old
    listed = run_cli("ls", "--versions", "--json")
    assert listed.code == 0, listed.stderr
    assert not any(value in listed.output for value in values)
    rows = [row for row in json.loads(listed.stdout) if row["name"] == name]
    assert [row["version"] for row in rows] == ids
    assert all(row["created"] and row["source"] == "aws" for row in rows)
    table = run_cli("ls", "--versions", "--store", "aws")
    assert table.code == 0
    assert ids[0] in table.stdout
    assert not any(value in table.output for value in values)


def test_ls_versions_notes_the_sources_without_versions(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "env,aws")
    listed = run_cli("ls", "--versions", env={"PREFECT__CONTEXT__SECRETS__ONLY_ENV": "fake-x"})
    assert listed.code == 0, listed.stderr
    assert "source 'env' keeps no versions (1 secret not listed here)" in listed.output
    assert "fake-x" not in listed.output


# --- HashiCorp Vault (OpenBao) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def vault_server() -> Iterator[VaultServer]:
    with VaultServer() as server:
        yield server


@pytest.fixture
def vault(vault_server: VaultServer, monkeypatch: pytest.MonkeyPatch) -> VaultServer:
    for name in ("VAULT_NAMESPACE", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**vault_server.env(), "PREFECT_SECRETS_SOURCES": "env,vault"}.items():
        monkeypatch.setenv(name, value)
    return vault_server


def test_vault_pins_an_older_version_and_lists_versions(
    vault: VaultServer, fake: Fake, unique_name: Names
) -> None:
    name, values = unique_name("VAULTED"), [fake("v1"), fake("v2")]
    for value in values:
        vault.put(f"prefect/{name}", {"value": value})
    checks = [Secret(name, version="1").get() == values[0], Secret(name).get() == values[1]]
    assert checks == [True, True]
    with pytest.raises(SecretNotFound, match="version '9' not found"):
        Secret(name, version="9").get()
    with pytest.raises(UnsupportedBySource, match=f"secret '{name}', version 'latest'"):
        Secret(name, version="latest").get()
    listed = run_cli("ls", "--versions", "--store", "vault", "--json")
    assert listed.code == 0, listed.stderr
    assert not any(value in listed.output for value in values)
    rows = [row for row in json.loads(listed.stdout) if row["name"] == name]
    assert [row["version"] for row in rows] == ["1", "2"]
    assert all(row["created"] for row in rows)


# --- GCP Secret Manager ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcp_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GcpSecretManagerServer, Path]]:
    key = tmp_path_factory.mktemp("adc") / "service-account.json"
    with GceMetadataServer(project_id=GCP_PROJECT) as google, GcpSecretManagerServer() as server:
        google.create_service_account_key(path=key)
        yield server, key


@pytest.fixture
def gcp(
    gcp_server: tuple[GcpSecretManagerServer, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[GcpSecretManagerServer]:
    server, key = gcp_server
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "env,gcp")
    monkeypatch.setenv("PREFECT_SECRETS_GCP_PROJECT", GCP_PROJECT)
    monkeypatch.setenv("PREFECT_SECRETS_GCP_API_ENDPOINT", server.url)
    yield server
    server.reset()


def test_gcp_pins_a_version_number(
    gcp: GcpSecretManagerServer, fake: Fake, unique_name: Names
) -> None:
    name, values = unique_name("GCP"), [fake("v1"), fake("v2")]
    numbers = [gcp.add_secret(GCP_PROJECT, name, value) for value in values]
    checks = [
        Secret(name, version=str(numbers[0])).get() == values[0],
        Secret(name).get() == values[1],
        Secret(name, version="latest").get() == values[1],
    ]
    assert checks == [True] * 3
    with pytest.raises(SecretNotFound, match="version '7' not found"):
        Secret(name, version="7").get()
    history = source_of_kind("gcp", SourceConfig()).version_history(SecretKey(name), SourceConfig())
    assert [version for version, _ in history] == [str(n) for n in numbers]


# --- Azure Key Vault ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kv_server() -> Iterator[AzureKeyVaultServer]:
    with AzureKeyVaultServer() as started:
        yield started


@pytest.fixture
def kv(kv_server: AzureKeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> AzureKeyVaultServer:
    for name, value in kv_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "env,azure")
    monkeypatch.setenv("PREFECT_SECRETS_AZURE_VAULT_URL", kv_server.public_vault_url)
    return kv_server


def test_azure_pins_a_version_id(kv: AzureKeyVaultServer, fake: Fake, unique_name: Names) -> None:
    name, values = unique_name("AZURE"), [fake("v1"), fake("v2")]
    ids = [kv.set_secret(name.lower().replace("_", "-"), value) for value in values]
    checks = [Secret(name, version=ids[0]).get() == values[0], Secret(name).get() == values[1]]
    assert checks == [True, True]
    with pytest.raises(SecretNotFound, match=f"version '{'0' * 32}' not found"):
        Secret(name, version="0" * 32).get()
    listed = run_cli("ls", "--versions", "--json")
    assert listed.code == 0, listed.stderr
    folded = name.lower().replace("_", "-")  # Key Vault's names: `ls` shows them as stored
    rows = [row for row in json.loads(listed.stdout) if row["name"] == folded]
    assert [row["version"] for row in rows] == ids
    assert not any(value in listed.output for value in values)
