"""GCP ID tokens (`kind = "gcp_id_token"`), against `GceMetadataServer`: the metadata server's
`identity` endpoint, Google's token endpoint for service-account keys, and IAM Credentials'
`generateIdToken` for impersonation (reached through its CONNECT proxy, as google-auth
always calls iamcredentials.googleapis.com). Every ID token is a real RS256 JWT, verified.

Values are fake and never printed: checks on them are computed into booleans or counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_secrets import GcpIdToken, Secret, SecretSourceError, SettingsError, declare_tokens
from prefect_secrets._tokens.cache import MINTED
from prefect_secrets._tokens.registry import withdraw_tokens
from tests.support.cli import run_cli
from tests.support.gce_metadata import (
    GENERATE_ID_TOKEN_ENDPOINT,
    IDENTITY_ENDPOINT,
    OAUTH2_TOKEN_ENDPOINT,
    GceMetadataServer,
    ServiceAccountKey,
)
from tests.support.tls import LocalServer

AUDIENCE = "https://fake-reports.example.run.app"
TARGET = "fake-reports-caller@fake-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def google() -> Iterator[GceMetadataServer]:
    with GceMetadataServer() as started:
        yield started


@pytest.fixture(autouse=True)
def on_gce(google: GceMetadataServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process runs "on GCE": google-auth finds the metadata server at the fake's
    address; no key file is configured. Nothing minted survives the test."""
    from google.auth.compute_engine import _metadata

    for name, value in google.metadata_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", google.host)
    # google-auth asks "am I on GCE?" with a 3 s timeout, fixed when it is first imported
    # (GCE_METADATA_TIMEOUT): a CI machine busy with the rest of the suite has missed it.
    monkeypatch.setattr(_metadata.ping, "__defaults__", (30, *_metadata.ping.__defaults__[1:]))
    # NO_GCE_CHECK is read once, when _metadata is first imported: a module that imported it
    # with NO_GCE_CHECK=true (test_source_gcp.py) would leave this process "not on GCE".
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("NO_GCE_CHECK", raising=False)
    google.reset_counts()
    yield
    withdraw_tokens()
    MINTED.forget()
    google.clear_faults()
    google.id_token_lifetime = 3600


@pytest.fixture
def key(google: GceMetadataServer, monkeypatch: pytest.MonkeyPatch) -> ServiceAccountKey:
    """A service-account key, stored as the secret GCP_SA_KEY (its JSON text)."""
    made = google.create_service_account_key()
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__GCP_SA_KEY", json.dumps(made.info))
    return made


@pytest.fixture
def iam_proxy(google: GceMetadataServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Route google-auth's calls to iamcredentials.googleapis.com to the fake."""
    for name, value in google.proxy_environment(tmp_path).items():
        monkeypatch.setenv(name, value)


def test_a_token_from_the_metadata_server(
    google: GceMetadataServer, write_config: Callable[..., Path]
) -> None:
    write_config(f'[tokens.REPORTS_TOKEN]\nkind = "gcp_id_token"\naudience = "{AUDIENCE}"\n')
    token = Secret("REPORTS_TOKEN").get()
    claims = google.verify_id_token(token, AUDIENCE)
    assert claims["email"] == google.default_account.email
    assert google.count(IDENTITY_ENDPOINT) == 1
    assert Secret("REPORTS_TOKEN").get() == token
    assert google.count(IDENTITY_ENDPOINT) == 1


def test_a_token_from_a_service_account_key_that_is_a_secret(
    google: GceMetadataServer, key: ServiceAccountKey
) -> None:
    declare_tokens(GcpIdToken("REPORTS_TOKEN", audience=AUDIENCE, service_account_key="GCP_SA_KEY"))
    claims = google.verify_id_token(Secret("REPORTS_TOKEN").get(), AUDIENCE)
    assert claims["email"] == key.email
    assert google.count(OAUTH2_TOKEN_ENDPOINT) == 1
    assert google.count(IDENTITY_ENDPOINT) == 0


def test_impersonation_with_a_key(
    google: GceMetadataServer, key: ServiceAccountKey, iam_proxy: None
) -> None:
    google.allow_impersonation(key.email, TARGET)
    declare_tokens(
        GcpIdToken(
            "REPORTS_TOKEN",
            audience=AUDIENCE,
            service_account_key="GCP_SA_KEY",
            service_account_email=TARGET,
        )
    )
    claims = google.verify_id_token(Secret("REPORTS_TOKEN").get(), AUDIENCE)
    assert claims["email"] == TARGET
    assert google.count(GENERATE_ID_TOKEN_ENDPOINT) == 1


def test_impersonation_with_the_environments_service_account(
    google: GceMetadataServer, iam_proxy: None, write_config: Callable[..., Path]
) -> None:
    google.allow_impersonation(google.default_account.email, TARGET)
    write_config(
        "[tokens.REPORTS_TOKEN]\n"
        'kind = "gcp_id_token"\n'
        f'audience = "{AUDIENCE}"\n'
        f'service_account_email = "{TARGET}"\n'
    )
    claims = google.verify_id_token(Secret("REPORTS_TOKEN").get(), AUDIENCE)
    assert claims["email"] == TARGET
    assert google.count(GENERATE_ID_TOKEN_ENDPOINT) == 1


def test_impersonation_without_permission_is_an_error_and_not_retried(
    google: GceMetadataServer, key: ServiceAccountKey, iam_proxy: None
) -> None:
    other = "fake-not-granted@fake-project.iam.gserviceaccount.com"
    declare_tokens(
        GcpIdToken(
            "REPORTS_TOKEN",
            audience=AUDIENCE,
            service_account_key="GCP_SA_KEY",
            service_account_email=other,
        )
    )
    with pytest.raises(SecretSourceError) as caught:
        Secret("REPORTS_TOKEN").get()
    message = str(caught.value)
    assert message.startswith(
        f"token 'REPORTS_TOKEN' (gcp_id_token, IAM Credentials generateIdToken as {other}): refused"
    )
    assert key.private_key_id not in message
    assert google.count(GENERATE_ID_TOKEN_ENDPOINT) == 1


def test_a_token_is_refreshed_before_it_expires(
    google: GceMetadataServer, write_config: Callable[..., Path]
) -> None:
    write_config(f'[tokens.REPORTS_TOKEN]\nkind = "gcp_id_token"\naudience = "{AUDIENCE}"\n')
    google.id_token_lifetime = 33  # refreshed when less than 30 s remains: fresh for ~3 s
    first = Secret("REPORTS_TOKEN").get()
    assert Secret("REPORTS_TOKEN").get() == first
    time.sleep(3.2)
    second = Secret("REPORTS_TOKEN").get()
    assert second != first
    assert google.count(IDENTITY_ENDPOINT) == 2


async def test_concurrent_async_lookups_share_one_request(
    google: GceMetadataServer, write_config: Callable[..., Path]
) -> None:
    write_config(f'[tokens.REPORTS_TOKEN]\nkind = "gcp_id_token"\naudience = "{AUDIENCE}"\n')
    google.delay = 0.3
    values = await asyncio.gather(*(Secret("REPORTS_TOKEN").aget() for _ in range(100)))
    assert len(set(values)) == 1
    assert google.count(IDENTITY_ENDPOINT) == 1


def test_a_secret_that_is_not_a_key_is_an_error_naming_it_never_its_value(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    value = fake("not-a-key")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__GCP_SA_KEY", value)
    declare_tokens(GcpIdToken("REPORTS_TOKEN", audience=AUDIENCE, service_account_key="GCP_SA_KEY"))
    with pytest.raises(SecretSourceError) as caught:
        Secret("REPORTS_TOKEN").get()
    assert "the secret 'GCP_SA_KEY' (service_account_key) is not a service-account key" in str(
        caught.value
    )
    assert value not in str(caught.value)


def test_no_metadata_server_and_no_key_is_an_error_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.auth.compute_engine import _metadata

    with LocalServer() as gone:  # off Google Cloud: nothing answers at the metadata address
        dead = f"127.0.0.1:{gone.port}"
    monkeypatch.setenv("GCE_METADATA_IP", dead)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", dead)
    declare_tokens(GcpIdToken("REPORTS_TOKEN", audience=AUDIENCE))
    with pytest.raises(
        SecretSourceError, match="no credentials: no GOOGLE_APPLICATION_CREDENTIALS"
    ):
        Secret("REPORTS_TOKEN").get()


@pytest.mark.parametrize(
    ("table", "line", "expected"),
    [
        ('kind = "gcp_id_token"\n', 1, "[tokens.REPORTS_TOKEN] needs audience"),
        ('kind = "gcp_id_token"\naudience = 3\n', 3, "audience must be a non-empty string"),
        (
            f'kind = "gcp_id_token"\naudience = "{AUDIENCE}"\nservice_account_email = "x"\n',
            1,
            "service_account_email must be a service account's email",
        ),
    ],
)
def test_a_bad_declaration_is_an_error_naming_the_file_and_line(
    write_config: Callable[..., Path], table: str, line: int, expected: str
) -> None:
    path = write_config("[tokens.REPORTS_TOKEN]\n" + table)
    with pytest.raises(SettingsError) as caught:
        Secret("REPORTS_TOKEN").get()
    assert f"{path}, line {line}: " in str(caught.value)
    assert expected in str(caught.value)


def test_without_the_extra_the_error_says_what_to_install(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_config(f'[tokens.REPORTS_TOKEN]\nkind = "gcp_id_token"\naudience = "{AUDIENCE}"\n')
    shim = tmp_path / "no-google-auth"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['google.auth'] = None  # as if not installed\n"
    )
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)
    result = run_cli("get", "REPORTS_TOKEN", env={"PYTHONPATH": path})
    assert result.code == 5, result.output
    assert (
        "token 'REPORTS_TOKEN' (gcp_id_token) needs google: pip install \"prefect-secrets[gcp]\""
        in result.stderr
    )


def test_doctor_reports_the_remaining_lifetime(
    google: GceMetadataServer, write_config: Callable[..., Path]
) -> None:
    write_config(f'[tokens.REPORTS_TOKEN]\nkind = "gcp_id_token"\naudience = "{AUDIENCE}"\n')
    result = run_cli("doctor")
    assert re.search(
        r"✓ REPORTS_TOKEN: minted \(gcp_id_token\), expires in (359\d|3600) s", result.stdout
    ), result.output
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", result.output)
    assert google.count(IDENTITY_ENDPOINT) == 1
