"""GCP Secret Manager (`kind = "gcp"`), against `GcpSecretManagerServer` (REST v1) with
Application Default Credentials from a service-account key file, as in production.

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

import tests.support.gcp as gcp_fake
from prefect_secrets import Secret, SecretNotFound, SecretSourceError, get_many
from prefect_secrets._config.lookup import SourceConfig
from prefect_secrets._sources.gcp import GcpSource, crc32c, key_of_id, secret_id
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets._sources.remote import deadline_of
from prefect_secrets.sources import MISSING, SecretKey
from tests.support.cli import run_cli
from tests.support.gce_metadata import GceMetadataServer
from tests.support.gcp import GcpSecretManagerServer
from tests.support.servers import PrefectServer

PROJECT = "fake-project"
MASK = "********"


@pytest.fixture(scope="module")
def gcp_server() -> Iterator[GcpSecretManagerServer]:
    with GcpSecretManagerServer() as started:
        yield started


@pytest.fixture(scope="module")
def adc_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A service-account key file (project fake-project), as GOOGLE_APPLICATION_CREDENTIALS
    names in production; its token_uri is a fake Google token endpoint."""
    path = tmp_path_factory.mktemp("adc") / "service-account.json"
    with GceMetadataServer(project_id=PROJECT) as google:
        google.create_service_account_key(path=path)
        yield path


@pytest.fixture
def gcp(
    gcp_server: GcpSecretManagerServer, adc_key: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GcpSecretManagerServer]:
    """Lookups ask env vars, then GCP Secret Manager, with ADC; the server is reset after."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc_key))
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # never probe a metadata server
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "env,gcp")
    monkeypatch.setenv("PREFECT_SECRETS_GCP_PROJECT", PROJECT)
    monkeypatch.setenv("PREFECT_SECRETS_GCP_API_ENDPOINT", gcp_server.url)
    yield gcp_server
    gcp_server.reset()


def source() -> GcpSource:
    found = source_of_kind("gcp", SourceConfig())
    assert isinstance(found, GcpSource)
    return found


def bounds(monkeypatch: pytest.MonkeyPatch, timeout: float, retries: int) -> float:
    """Set `timeout` and `retries`; the most one lookup may then take."""
    monkeypatch.setenv("PREFECT_SECRETS_TIMEOUT", str(timeout))
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", str(retries))
    return deadline_of(SourceConfig().settings)


# --- reading ---------------------------------------------------------------------------------


def test_a_secret_is_read_with_adc_under_its_own_name(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, value = unique_name("DB_PASSWORD"), fake("db")
    gcp.add_secret(PROJECT, name, value)
    read = Secret(name).get() == value
    assert read
    assert Secret(name).exists()
    assert Secret(name).source() == f"GCP Secret Manager secret 'projects/{PROJECT}/secrets/{name}'"
    assert gcp.tokens_seen, "the client sent ADC's token"


def test_the_project_defaults_to_the_one_adc_names(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    monkeypatch.delenv("PREFECT_SECRETS_GCP_PROJECT")
    name, value = unique_name("ADC_PROJECT"), fake("adc")
    gcp.add_secret(PROJECT, name, value)
    read = Secret(name).get() == value
    assert read


def test_settings_from_the_file_with_a_prefix(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    write_config: Callable[..., Path],
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    for var in ("SOURCES", "GCP_PROJECT", "GCP_API_ENDPOINT"):
        monkeypatch.delenv(f"PREFECT_SECRETS_{var}")
    write_config(
        f'[settings]\nsources = ["env", "gcp"]\n\n[settings.gcp]\nproject = "{PROJECT}"\n'
        f'prefix = "prefect-"\napi_endpoint = "{gcp.url}"\n'
    )
    name, value = unique_name("PREFIXED"), fake("prefixed")
    gcp.add_secret(PROJECT, f"prefect-{name}", value)
    gcp.add_secret(PROJECT, unique_name("NOT_OURS"), fake("other"))
    read = Secret(name).get() == value
    assert read
    assert [key.name for key in source().names(SourceConfig())] == [name]


def test_a_missing_secret_is_not_found_naming_where_it_was_looked_for(
    gcp: GcpSecretManagerServer, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("MISSING")
    with pytest.raises(SecretNotFound) as caught:
        Secret(name).get()
    assert f"GCP Secret Manager secret 'projects/{PROJECT}/secrets/{name}'" in str(caught.value)
    assert not Secret(name).exists()
    assert Secret(name).get(default=None) is None


def test_scoped_secrets_and_the_scope_chain(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    """project+domain, then project, then domain, then org-wide, as everywhere."""
    name = unique_name("SCOPED")
    org, etl_prod, prod = fake("org"), fake("etl-prod"), fake("prod")
    gcp.add_secret(PROJECT, name, org)
    gcp.add_secret(PROJECT, f"scope--etl--prod--{name}", etl_prod)
    gcp.add_secret(PROJECT, f"scope----prod--{name}", prod)
    found = [
        Secret(name, project="etl", domain="prod").get() == etl_prod,
        Secret(name, project="etl", domain="dev").get() == org,
        Secret(name, project="ml", domain="prod").get() == prod,
        Secret(name).get() == org,
    ]
    assert found == [True] * 4
    assert set(source().names(SourceConfig())) >= {
        SecretKey(name),
        SecretKey(name, "etl", "prod"),
        SecretKey(name, None, "prod"),
    }


@pytest.mark.parametrize(
    ("key", "stored_as"),
    [
        (SecretKey("DB_PASSWORD"), "DB_PASSWORD"),
        (SecretKey("db-password"), "db-password"),
        (SecretKey("DB_PASSWORD", "etl", "prod"), "scope--etl--prod--DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", "etl"), "scope--etl----DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", None, "prod-eu"), "scope----prod-eu--DB_PASSWORD"),
        (SecretKey("scope--etl--prod--X"), "scope------scope--etl--prod--X"),
    ],
)
def test_ids_map_both_ways_unambiguously(key: SecretKey, stored_as: str) -> None:
    assert secret_id(key) == stored_as
    assert key_of_id(stored_as) == key
    assert key_of_id(f"prefect-{stored_as}", "prefect-") == key


@pytest.mark.parametrize(
    "stored_as", ["other-app-key", "scope--etl--prod--", "scope--ETL--prod--X", "scope------X"]
)
def test_ids_that_are_not_ours_are_not_listed(stored_as: str) -> None:
    assert key_of_id(stored_as, "prefect-") is None
    if stored_as != "other-app-key":
        assert key_of_id(stored_as) is None


def test_json_is_decoded_and_raw_returns_the_stored_text(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, password = unique_name("WAREHOUSE"), fake("warehouse")
    stored = json.dumps({"user": "etl_loader", "password": password})
    gcp.add_secret(PROJECT, name, stored)
    decoded = Secret(name).get() == {"user": "etl_loader", "password": password}
    raw = Secret(name).get(raw=True) == stored
    assert (decoded, raw) == (True, True)


def test_binary_payloads_come_back_as_bytes_and_utf8_as_text(
    gcp: GcpSecretManagerServer, unique_name: Callable[[str], str]
) -> None:
    binary, text = unique_name("KEYTAB"), unique_name("UTF8")
    payload = b"\xff\xfe\x00fake-binary\x80"
    gcp.add_secret(PROJECT, binary, payload)
    gcp.add_secret(PROJECT, text, "fake-caf\u00e9".encode())
    as_stored = [Secret(binary).get() == payload, Secret(text).get() == "fake-caf\u00e9"]
    assert as_stored == [True, True]


def test_a_payload_that_does_not_match_its_checksum_is_refused(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    """The client does not check `dataCrc32c`; we do (data corrupted on the way)."""

    class WrongChecksum:
        @staticmethod
        def value(data: bytes) -> int:
            return (crc32c(data) + 1) % 2**32

    name = unique_name("CORRUPT")
    gcp.add_secret(PROJECT, name, fake("corrupt"))
    monkeypatch.setattr(gcp_fake, "google_crc32c", WrongChecksum)
    with pytest.raises(SecretSourceError, match="does not match its dataCrc32c checksum"):
        Secret(name).get()


async def test_async_lookups(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, value = unique_name("ASYNC"), fake("async")
    gcp.add_secret(PROJECT, name, value)
    read = await Secret(name).aget() == value
    assert read
    assert not await Secret(unique_name("ASYNC_MISSING")).aexists()


def test_get_many_reads_each_secret_once(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    names = [unique_name("MANY") for _ in range(5)]
    values = {name: fake("many") for name in names}
    for name, value in values.items():
        gcp.add_secret(PROJECT, name, value)
    missing = unique_name("MANY_MISSING")
    gcp.reset_counts()
    read = get_many(names) == values
    assert read
    assert gcp.count("GET", "versions.access") == 5
    with pytest.raises(SecretNotFound) as caught:
        get_many([*names, missing])
    assert caught.value.names == (missing,)
    assert gcp.count("GET", "versions.access") == 6  # the others were cached


# --- rotation and versions ------------------------------------------------------------------


def test_a_new_version_is_seen_once_the_ttl_expires(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_CACHE_TTL", "0.5")
    name, old, new = unique_name("ROTATED"), fake("old"), fake("new")
    gcp.add_secret(PROJECT, name, old)
    first = Secret(name).get() == old
    gcp.add_secret(PROJECT, name, new)  # rotated by someone else
    cached = Secret(name).get() == old
    time.sleep(0.6)
    rotated = Secret(name).get() == new
    assert (first, cached, rotated) == (True, True, True)


def test_a_write_through_the_library_is_seen_at_once(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, old, new = unique_name("WRITTEN"), fake("old"), fake("new")
    gcp.add_secret(PROJECT, name, old)
    first = Secret(name).get() == old
    assert source().write(SecretKey(name), new, SourceConfig()) == "replaced"
    seen = Secret(name).get() == new
    assert (first, seen) == (True, True)
    assert [v["number"] for v in gcp.versions(PROJECT, name)] == [1, 2]


def test_versions_pinned_and_listed(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("VERSIONED")
    values = [fake(f"v{n}") for n in (1, 2, 3)]
    for value in values:
        gcp.add_secret(PROJECT, name, value)
    gcp.set_version_state(PROJECT, name, 2, "DISABLED")
    gcp_source, config, key = source(), SourceConfig(), SecretKey(name)
    assert gcp_source.versioned
    assert gcp_source.versions(key, config) == ["1", "3"]  # enabled ones, oldest first
    pinned = [gcp_source.lookup_version(key, v, config) == values[int(v) - 1] for v in "13"]
    assert pinned == [True, True]
    assert gcp_source.lookup_version(key, "9", config) is MISSING
    with pytest.raises(SecretSourceError, match="version 2 is disabled or destroyed"):
        gcp_source.lookup_version(key, "2", config)
    with pytest.raises(SecretSourceError, match="versions are numbers"):
        gcp_source.lookup_version(key, "v1", config)
    assert gcp_source.versions(SecretKey(unique_name("NO_VERSIONS")), config) == []


def test_a_disabled_latest_version_is_an_error_not_a_miss(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("DISABLED")
    gcp.add_secret(PROJECT, name, fake("v1"))
    gcp.add_secret(PROJECT, name, fake("v2"))
    gcp.set_version_state(PROJECT, name, 2, "DISABLED")
    with pytest.raises(SecretSourceError, match="its latest version is disabled or destroyed"):
        Secret(name).get()


# --- writing and deleting -----------------------------------------------------------------


def test_write_creates_then_adds_versions_with_their_checksum(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, config = unique_name("STORED"), SourceConfig()
    key = SecretKey(name, "etl", "prod")
    assert source().write(key, fake("first"), config) == "created"
    assert source().write(key, {"user": "etl", "port": 5432}, config) == "replaced"
    stored = gcp.versions(PROJECT, f"scope--etl--prod--{name}")
    assert [v["number"] for v in stored] == [1, 2]
    assert stored[1]["data"] == b'{"user":"etl","port":5432}'  # JSON text: not a value
    assert Secret(name, project="etl", domain="prod").get() == {"user": "etl", "port": 5432}


def test_delete_removes_every_version(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, config = unique_name("DELETED"), SourceConfig()
    gcp.add_secret(PROJECT, name, fake("v1"))
    gcp.add_secret(PROJECT, name, fake("v2"))
    assert source().delete(SecretKey(name), config)
    assert name not in gcp.secret_ids(PROJECT)
    assert not source().delete(SecretKey(name), config)
    assert not Secret(name).exists()


def test_too_long_an_id_is_never_asked_for_and_refused_on_write(
    gcp: GcpSecretManagerServer, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    from prefect_secrets import UnsupportedBySource

    monkeypatch.setenv("PREFECT_SECRETS_GCP_PREFIX", "prefect-")
    key = SecretKey("L" * 250, "etl", "prod")
    gcp.reset_counts()
    assert source().lookup(key, SourceConfig()) is MISSING
    assert gcp.total() == 0
    with pytest.raises(UnsupportedBySource, match="at most 255 characters"):
        source().write(key, fake("long"), SourceConfig())


# --- failures --------------------------------------------------------------------------------


def test_access_denied_is_an_error_naming_the_secret_and_never_retried(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("DENIED")
    gcp.add_secret(PROJECT, name, fake("denied"))
    gcp.deny(name)
    gcp.reset_counts()
    with pytest.raises(SecretSourceError) as caught:
        Secret(name).get()
    message = str(caught.value)
    assert message.startswith(f"GCP Secret Manager: secret 'projects/{PROJECT}/secrets/{name}'")
    assert "access denied (403 PERMISSION_DENIED)" in message
    assert gcp.count("GET", "versions.access") == 1


def test_expired_credentials_are_an_error_and_never_retried(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    """google-auth refreshes the credentials on a 401 and repeats the request twice; our
    retries (2 here) would make that 9 requests."""
    bounds(monkeypatch, 2.0, 2)
    name = unique_name("EXPIRED")
    gcp.add_secret(PROJECT, name, fake("expired"))
    gcp.expire_all_tokens()
    gcp.reset_counts()
    with pytest.raises(SecretSourceError, match=r"credentials were rejected \(401"):
        Secret(name).get()
    assert gcp.count("GET", "versions.access") == 3
    gcp.expire_all_tokens(False)
    source().invalidate()
    assert Secret(name).exists()  # new credentials: works again


def test_throttling_is_retried_then_reported(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    bounds(monkeypatch, 2.0, 1)
    name, value = unique_name("THROTTLED"), fake("throttled")
    gcp.add_secret(PROJECT, name, value)
    gcp.fail_next(1, 429, route="versions.access")
    read = Secret(name).get() == value  # one retry absorbs one 429
    assert read
    source().invalidate()
    gcp.fail_next(5, 429, route="versions.access")
    gcp.reset_counts()
    with pytest.raises(
        SecretSourceError, match=r"throttled \(429 RESOURCE_EXHAUSTED\), 2 attempts"
    ):
        Secret(name).get()
    assert gcp.count("GET", "versions.access") == 2


def test_an_unreachable_server_is_an_error_within_the_deadline(
    gcp: GcpSecretManagerServer, monkeypatch: pytest.MonkeyPatch, unique_name: Callable[[str], str]
) -> None:
    deadline = bounds(monkeypatch, 1.0, 1)
    Secret(unique_name("WARM")).exists()  # the client is built: only the request is timed
    gcp.refuse()
    try:
        started = time.monotonic()
        with pytest.raises(SecretSourceError, match=r"unreachable \(ConnectionError\), 2 attempts"):
            Secret(unique_name("REFUSED")).get()
        assert time.monotonic() - started < deadline
    finally:
        gcp.accept()


def test_a_server_that_hangs_is_abandoned_after_timeout_times_attempts(
    gcp: GcpSecretManagerServer, monkeypatch: pytest.MonkeyPatch, unique_name: Callable[[str], str]
) -> None:
    deadline = bounds(monkeypatch, 0.5, 1)
    Secret(unique_name("WARM")).exists()
    gcp.hang(route="versions.access")
    gcp.reset_counts()
    started = time.monotonic()
    with pytest.raises(SecretSourceError, match=r"no answer within 0.5 s, 2 attempts"):
        Secret(unique_name("HUNG")).get()
    elapsed = time.monotonic() - started
    assert 0.5 * 2 <= elapsed < deadline
    assert gcp.count("GET", "versions.access") == 2


def test_a_server_that_trickles_is_cut_off_at_the_deadline(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    """Each read sees a byte in time, so only the total deadline ends it."""
    deadline = bounds(monkeypatch, 0.5, 0)
    name = unique_name("TRICKLED")
    gcp.add_secret(PROJECT, name, fake("trickled"))
    Secret(unique_name("WARM")).exists()
    gcp.trickle(50, route="versions.access")
    started = time.monotonic()
    with pytest.raises(SecretSourceError, match="no complete answer within"):
        Secret(name).get()
    elapsed = time.monotonic() - started
    assert deadline - 0.1 <= elapsed < deadline + 0.5


def test_no_credentials_is_an_error_saying_how_to_get_some(
    gcp: GcpSecretManagerServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    from google.auth.compute_engine import _metadata

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)  # read at its import: not on GCE
    # Another endpoint, so another client: ADC is asked afresh.
    monkeypatch.setenv(
        "PREFECT_SECRETS_GCP_API_ENDPOINT", gcp.url.replace("127.0.0.1", "localhost")
    )
    with pytest.raises(SecretSourceError, match="no Application Default Credentials"):
        Secret(unique_name("NO_ADC")).get()


# --- the command line, masking, the extra ---------------------------------------------------


def test_the_cli_sets_gets_lists_explains_and_deletes(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name, value = unique_name("CLI"), fake("cli")
    where = f"GCP Secret Manager secret 'projects/{PROJECT}/secrets/{name}'"
    outputs = []

    saved = run_cli("set", name, "--store", "gcp", stdin=value)
    outputs.append(saved.output)
    assert saved.code == 0
    assert f"Saved secret '{name}': {where}." in saved.stdout
    scoped = run_cli("set", name, "--store", "gcp", "--project", "etl", stdin=fake("etl"))
    outputs.append(scoped.output)
    assert scoped.code == 0
    assert f"scope--etl----{name}" in gcp.secret_ids(PROJECT)
    shown = run_cli("get", name)
    outputs.append(shown.output)
    assert shown.code == 0
    assert f"{name}: {MASK} (string)" in shown.stdout
    assert where in shown.stdout
    revealed = run_cli("get", name, "--reveal")
    assert revealed.code == 0
    assert revealed.stdout.count(value) == 1  # the one command that prints a value
    listed = run_cli("ls", "--json")
    outputs.append(listed.output)
    rows = [(r["name"], r["scope"]) for r in json.loads(listed.stdout) if r["source"] == "gcp"]
    assert (name, "org") in rows
    assert (name, "project=etl") in rows
    which = run_cli("which", name, "--json")
    outputs.append(which.output)
    statuses = [(p["source"], p["status"]) for p in json.loads(which.stdout)]
    assert statuses == [("env", "absent"), ("gcp", "found")]
    deleted = run_cli("delete", name, "--store", "gcp", "--yes")
    outputs.append(deleted.output)
    assert deleted.code == 0
    assert f"Deleted secret '{name}' from {where}." in deleted.stdout
    assert run_cli("get", name).code == 3
    assert [output.count(value) for output in outputs] == [0] * len(outputs)


def test_the_cli_reports_a_denied_secret_in_one_line(
    gcp: GcpSecretManagerServer, fake: Callable[[str], str], unique_name: Callable[[str], str]
) -> None:
    name = unique_name("CLI_DENIED")
    gcp.add_secret(PROJECT, name, fake("denied"))
    gcp.deny(name)
    result = run_cli("get", name)
    assert result.code == 4
    assert "access denied (403 PERMISSION_DENIED)" in result.stderr
    assert "Traceback" not in result.output


def test_without_the_extra_the_error_says_what_to_install(
    gcp: GcpSecretManagerServer, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    shim = tmp_path / "no-gcp-sdk"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['google.cloud.secretmanager'] = None  # as if not installed\n"
    )
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)
    result = run_cli("get", unique_name("NO_SDK"), env={"PYTHONPATH": path})
    assert result.code == 5, result.output
    assert 'pip install "prefect-secrets[gcp]"' in result.stderr


def test_importing_the_package_or_the_source_imports_no_sdk() -> None:
    code = (
        "import sys, prefect_secrets, prefect_secrets._sources.gcp\n"
        "print(sorted(m for m in sys.modules if m.startswith(('google', 'prefect.'))))"
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


def test_a_value_from_gcp_is_masked_in_a_flows_logs_and_prints(
    gcp: GcpSecretManagerServer,
    prefect_server: PrefectServer,
    tmp_path: Path,
    fake: Callable[[str], str],
    unique_name: Callable[[str], str],
) -> None:
    name, value = unique_name("MASKED"), fake("masked")
    gcp.add_secret(PROJECT, name, value)
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


def test_doctor_checks_that_the_project_can_be_listed(gcp: GcpSecretManagerServer) -> None:
    gcp.reset_counts()
    assert source().check(SourceConfig()) == f"listed the secrets of project {PROJECT!r}"
    assert gcp.count("GET", "secrets.list") == 1
    doctor = run_cli("doctor")  # as users run it: the source is asked, and passes
    assert f"✓ 2. gcp: listed the secrets of project {PROJECT!r}" in doctor.stdout, doctor.output
    assert gcp.count("GET", "secrets.list") == 2
