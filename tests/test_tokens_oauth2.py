"""OAuth 2.0 client-credentials tokens (`kind = "oauth2_client_credentials"`), against a real
authorization server (authlib's, `tests.support.oauth2`) on 127.0.0.1.

Values are fake and never printed: checks on them are computed into booleans or counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import prefect_secrets._tokens.oauth2 as oauth2_module
from prefect_secrets import (
    OAuth2ClientCredentials,
    Secret,
    SecretNotFound,
    SecretSourceError,
    SettingsError,
    declare_tokens,
    get_many,
)
from prefect_secrets._tokens.base import MintedToken
from prefect_secrets._tokens.cache import MINTED, is_fresh
from prefect_secrets._tokens.registry import withdraw_tokens
from tests.support.cli import run_cli
from tests.support.oauth2 import OAuth2Server, generate_client_key
from tests.support.servers import PrefectServer
from tests.support.tls import HttpRequest, HttpResponse, LocalServer

MASK = "********"
SECRET_VAR = "PREFECT__CONTEXT__SECRETS__CRM_CLIENT_SECRET"


@pytest.fixture(scope="module")
def idp() -> Iterator[OAuth2Server]:
    with OAuth2Server(token_lifetime=600) as started:
        yield started


@pytest.fixture(autouse=True)
def fresh_tokens(idp: OAuth2Server) -> Iterator[None]:
    """No declaration, minted token or discovered endpoint survives a test."""
    yield
    withdraw_tokens()
    MINTED.forget()
    oauth2_module._discovered.clear()
    idp.clear_faults()
    idp.token_lifetime = 600


@pytest.fixture
def client(
    idp: OAuth2Server, fake: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """A registered client (id, secret); its secret is the secret CRM_CLIENT_SECRET."""
    client_id, secret = fake("client"), fake("client-secret")
    idp.register_client(client_id, secret, scopes={"crm.read", "crm.write"})
    monkeypatch.setenv(SECRET_VAR, secret)
    idp.reset_counts()
    idp.reset_token_requests()
    return client_id, secret


def declaration(idp: OAuth2Server, client_id: str, **fields: object) -> str:
    """A `[tokens.CRM_TOKEN]` table, by token_endpoint unless `issuer` is given."""
    lines = [
        "[tokens.CRM_TOKEN]",
        'kind = "oauth2_client_credentials"',
        f'client_id = "{client_id}"',
        'client_secret = "CRM_CLIENT_SECRET"',
    ]
    if "issuer" not in fields:
        lines.append(f'token_endpoint = "{idp.token_endpoint}"')
    lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


# --- minting -------------------------------------------------------------------------------


def test_a_token_declared_in_the_file_is_minted_through_discovery(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    write_config(
        declaration(idp, client_id, issuer=idp.issuer, scope="crm.read", audience="fake-crm")
    )
    idp.reset_counts()
    token = Secret("CRM_TOKEN").get()
    claims = idp.verify(token, audience="fake-crm")
    assert claims["sub"] == client_id
    assert claims["scope"] == "crm.read"
    assert idp.count("openid-configuration") == 1
    assert idp.token_log[-1].auth_method == "client_secret_basic"
    assert Secret("CRM_TOKEN").get() == token  # cached: no second request
    assert idp.token_requests == 1
    assert Secret("CRM_TOKEN").source().startswith("token CRM_TOKEN ([tokens.CRM_TOKEN] of ")


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_a_token_declared_in_code_with_its_token_endpoint(
    idp: OAuth2Server, client: tuple[str, str], auth_method: str
) -> None:
    client_id, _ = client
    declare_tokens(
        OAuth2ClientCredentials(
            "CRM_TOKEN",
            client_id=client_id,
            client_secret="CRM_CLIENT_SECRET",
            token_endpoint=idp.token_endpoint,
            scope=("crm.read", "crm.write"),
            extra={"resource": "https://fake-crm.example"},
            auth_method=auth_method,
        )
    )
    claims = idp.verify(Secret("CRM_TOKEN").get(), audience="https://fake-crm.example")
    assert claims["scope"] == "crm.read crm.write"
    assert idp.token_log[-1].auth_method == auth_method
    assert idp.count("openid-configuration") == 0


@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_private_key_jwt_signs_with_a_key_that_is_itself_a_secret(
    idp: OAuth2Server,
    fake: Callable[[str], str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    form: str,
) -> None:
    client_id = fake("jwt-client")
    private, public = generate_client_key()
    idp.register_client(client_id, jwk=public)
    stored = (
        private.as_pem(private=True).decode()
        if form == "pem"
        else json.dumps(private.as_dict(private=True))
    )
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__CRM_SIGNING_KEY", stored)
    write_config(
        "[tokens.CRM_TOKEN]\n"
        'kind = "oauth2_client_credentials"\n'
        f'client_id = "{client_id}"\n'
        f'issuer = "{idp.issuer}"\n'
        'auth_method = "private_key_jwt"\n'
        'private_key = "CRM_SIGNING_KEY"\n'
    )
    assert idp.verify(Secret("CRM_TOKEN").get())["sub"] == client_id
    assert idp.token_log[-1].auth_method == "private_key_jwt"
    assert idp.token_log[-1].params["client_assertion"] == ["<redacted>"]


def test_a_token_is_refreshed_before_it_expires(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    # 32 s of life, refreshed when less than max(30 s, 3.2 s) remains: fresh for 2 s.
    idp.token_lifetime = 32
    first = Secret("CRM_TOKEN").get()
    assert Secret("CRM_TOKEN").get() == first
    assert idp.token_requests == 1
    time.sleep(2.2)
    second = Secret("CRM_TOKEN").get()
    assert second != first
    assert idp.token_requests == 2
    assert idp.verify(second)["exp"] > idp.verify(first)["exp"]


def test_the_refresh_margin_is_the_larger_of_30_s_and_a_tenth_of_the_lifetime() -> None:
    now = 1_000_000.0
    hour = MintedToken("fake-token", now + 3600, minted_at=now)
    assert is_fresh(hour, now + 3600 - 361)
    assert not is_fresh(hour, now + 3600 - 359)  # 10% of an hour: 360 s
    minute = MintedToken("fake-token", now + 60, minted_at=now)
    assert is_fresh(minute, now + 29)
    assert not is_fresh(minute, now + 31)  # 30 s, not 6 s


def test_an_edited_declaration_applies_at_once(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id, scope="crm.read"))
    assert idp.verify(Secret("CRM_TOKEN").get())["scope"] == "crm.read"
    write_config(declaration(idp, client_id, scope="crm.write") + "# edited\n")
    assert idp.verify(Secret("CRM_TOKEN").get())["scope"] == "crm.write"
    assert idp.token_requests == 2


async def test_concurrent_async_lookups_share_one_token_request(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    idp.delay = 0.3  # every caller arrives while the request is under way
    values = await asyncio.gather(*(Secret("CRM_TOKEN").aget() for _ in range(100)))
    assert idp.token_requests == 1
    assert len(set(values)) == 1
    assert idp.verify(values[0])["sub"] == client_id


async def test_an_async_mint_does_not_block_the_event_loop(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    idp.delay = 0.5
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await Secret("CRM_TOKEN").aget()
    ticker.cancel()
    assert ticks >= 20  # the loop ran while the token was minted


def test_concurrent_threads_share_one_token_request(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    idp.delay = 0.3
    with ThreadPoolExecutor(32) as pool:
        values = list(pool.map(lambda _: Secret("CRM_TOKEN").get(), range(64)))
    assert idp.token_requests == 1
    assert len(set(values)) == 1


def test_get_many_mixes_tokens_and_plain_secrets(
    idp: OAuth2Server,
    client: tuple[str, str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__PLAIN", "fake-plain")
    values = get_many(["CRM_TOKEN", "PLAIN"])
    assert values["PLAIN"] == "fake-plain"
    assert idp.verify(values["CRM_TOKEN"])["sub"] == client_id


def test_an_env_var_of_the_same_name_wins_and_nothing_is_minted(
    idp: OAuth2Server,
    client: tuple[str, str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__CRM_TOKEN", "fake-env-token")
    assert Secret("CRM_TOKEN").get() == "fake-env-token"
    assert idp.token_requests == 0


def test_doctor_mints_each_declared_token_and_shows_its_lifetime_never_the_token(
    idp: OAuth2Server,
    client: tuple[str, str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, _ = client
    write_config(
        declaration(idp, client_id)
        + '\n[tokens.BROKEN]\nkind = "oauth2_client_credentials"\nclient_id = "fake-x"\n'
        + f'client_secret = "CRM_CLIENT_SECRET"\ntoken_endpoint = "{idp.token_endpoint}"\n'
    )
    result = run_cli("doctor")
    issued = idp.issued_tokens[-1]
    assert issued not in result.output
    assert re.search(
        r"✓ CRM_TOKEN: minted \(oauth2_client_credentials\), expires in (59\d|600) s", result.stdout
    ), result.output
    assert "✗ BROKEN: token 'BROKEN' (oauth2_client_credentials, " in result.stdout
    assert "refused (invalid_client)" in result.stdout
    assert result.code == 4
    # Turned off by `sources`: nothing is minted, and doctor says why.
    requests = idp.token_requests
    off = run_cli("doctor", env={"PREFECT_SECRETS_SOURCES": "context,env,file"})
    assert "· not minted: 'tokens' is not in sources (2 declared)" in off.stdout, off.output
    assert idp.token_requests == requests


# --- failures ------------------------------------------------------------------------------


def test_a_wrong_client_secret_is_an_error_naming_the_token_and_endpoint_never_the_secret(
    idp: OAuth2Server,
    client: tuple[str, str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    client_id, _ = client
    wrong = fake("wrong-secret")
    monkeypatch.setenv(SECRET_VAR, wrong)
    write_config(declaration(idp, client_id))
    with pytest.raises(SecretSourceError) as caught:
        Secret("CRM_TOKEN").get()
    message = str(caught.value)
    assert "token 'CRM_TOKEN'" in message
    assert idp.token_endpoint in message
    assert "invalid_client" in message
    assert wrong not in message
    assert wrong not in repr(caught.value)
    assert idp.token_requests == 1  # a refusal is never retried


def test_a_server_error_is_retried_within_the_bound(
    idp: OAuth2Server,
    client: tuple[str, str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, _ = client
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "2")
    write_config(declaration(idp, client_id))
    idp.fail_next(2, 503, endpoint="token")
    assert idp.verify(Secret("CRM_TOKEN").get())["sub"] == client_id
    assert idp.token_requests == 3
    MINTED.forget()
    idp.reset_token_requests()
    idp.fail_next(5, 500, endpoint="token")
    with pytest.raises(SecretSourceError, match=r"failed \(HTTP 500\), 3 attempts"):
        Secret("CRM_TOKEN").get()
    assert idp.token_requests == 3


def test_an_unreachable_endpoint_is_an_error_naming_it(
    client: tuple[str, str], write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id, _ = client
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "0")
    with LocalServer() as gone:
        url = gone.url + "/oauth2/token"
    write_config(
        "[tokens.CRM_TOKEN]\n"
        'kind = "oauth2_client_credentials"\n'
        f'client_id = "{client_id}"\n'
        'client_secret = "CRM_CLIENT_SECRET"\n'
        f'token_endpoint = "{url}"\n'
    )
    with pytest.raises(SecretSourceError) as caught:
        Secret("CRM_TOKEN").get()
    assert f"token 'CRM_TOKEN' (oauth2_client_credentials, {url}): unreachable" in str(caught.value)


class _StaticTokenServer(LocalServer):
    """A token endpoint that answers without `expires_in`, with an opaque token."""

    def route(self, request: HttpRequest) -> tuple[str, object] | None:
        answer = {"access_token": "fake-static-token", "token_type": "Bearer"}
        return "token", lambda _: HttpResponse.json(200, answer)


def test_a_token_that_never_expires_is_refused(
    client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    with _StaticTokenServer() as static:
        write_config(
            "[tokens.CRM_TOKEN]\n"
            'kind = "oauth2_client_credentials"\n'
            f'client_id = "{client_id}"\n'
            'client_secret = "CRM_CLIENT_SECRET"\n'
            f'token_endpoint = "{static.url}/token"\n'
        )
        with pytest.raises(SecretSourceError, match=r"never expires .* a plain secret"):
            Secret("CRM_TOKEN").get()


def test_a_missing_client_secret_is_not_found_naming_it(
    idp: OAuth2Server,
    client: tuple[str, str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, _ = client
    monkeypatch.delenv(SECRET_VAR)
    write_config(declaration(idp, client_id))
    with pytest.raises(SecretNotFound) as caught:
        Secret("CRM_TOKEN").get()
    assert caught.value.name == "CRM_CLIENT_SECRET"
    assert idp.token_requests == 0


def test_an_undeclared_name_is_not_found_naming_where_a_declaration_would_be(
    default_config_path: Path,
) -> None:
    with pytest.raises(SecretNotFound) as caught:
        Secret("NOT_A_TOKEN").get()
    expected = f"token declarations ([tokens.NOT_A_TOKEN] in {default_config_path}, declare_tokens)"
    assert expected in caught.value.places


# --- declarations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "line", "expected"),
    [
        ('kind = "oauth2"\n', 2, "kind = 'oauth2' is not a kind of token (known: "),
        (
            'kind = "oauth2_client_credentials"\ntoken_endpoint = "https://x"\n',
            1,
            "needs client_id",
        ),
        (
            'kind = "oauth2_client_credentials"\nclient_id = "x"\nclient_secret = "S"\n'
            'token_endpoint = "https://x"\nscopes = "a"\n',
            6,
            "[tokens.CRM_TOKEN] scopes is not a setting of this kind of token",
        ),
        (
            'kind = "oauth2_client_credentials"\nclient_id = "x"\nclient_secret = "S"\n'
            'token_endpoint = "https://x"\nauth_method = "basic"\n',
            6,
            "auth_method must be one of client_secret_basic, client_secret_post, private_key_jwt",
        ),
        (
            'kind = "oauth2_client_credentials"\nclient_id = "x"\nclient_secret = "S"\n'
            'token_endpoint = "https://x"\nissuer = "https://x"\n',
            1,
            "needs either token_endpoint or issuer",
        ),
        (
            'kind = "oauth2_client_credentials"\nclient_id = "x"\nclient_secret = "a b"\n'
            'token_endpoint = "https://x"\n',
            4,
            "client_secret names a secret",
        ),
    ],
)
def test_a_bad_declaration_is_an_error_naming_the_file_and_line(
    write_config: Callable[..., Path], table: str, line: int, expected: str
) -> None:
    path = write_config("[tokens.CRM_TOKEN]\n" + table)
    with pytest.raises(SettingsError) as caught:
        Secret("CRM_TOKEN").get()
    assert f"{path}, line {line}: " in str(caught.value)
    assert expected in str(caught.value)


def test_a_name_declared_in_the_file_and_in_code_is_an_error(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path]
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    declare_tokens(
        OAuth2ClientCredentials(
            "CRM_TOKEN", client_id=client_id, client_secret="X", token_endpoint="https://x"
        )
    )
    with pytest.raises(SettingsError, match=r"declared twice, in code .* declare it once"):
        Secret("CRM_TOKEN").get()


def test_a_declaration_shows_names_never_values(fake: Callable[[str], str]) -> None:
    token = OAuth2ClientCredentials(
        "CRM_TOKEN", client_id="fake-id", client_secret="CRM_CLIENT_SECRET", issuer="https://x"
    )
    assert repr(token) == ("OAuth2ClientCredentials(name='CRM_TOKEN', endpoint='issuer https://x')")
    with pytest.raises(TypeError, match="declare_tokens takes tokens"):
        declare_tokens("CRM_TOKEN")  # type: ignore[arg-type]


def test_without_the_extra_the_error_says_what_to_install(
    idp: OAuth2Server, client: tuple[str, str], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    shim = tmp_path / "no-authlib"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['authlib'] = None  # as if not installed\n"
    )
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)
    result = run_cli("get", "CRM_TOKEN", env={"PYTHONPATH": path})
    assert result.code == 5, result.output
    assert (
        "token 'CRM_TOKEN' (oauth2_client_credentials) needs authlib: "
        'pip install "prefect-secrets[oauth2]"'
    ) in result.stderr
    assert idp.token_requests == 0


def test_importing_the_token_modules_imports_no_sdk() -> None:
    code = (
        "import sys, prefect_secrets, prefect_secrets._tokens.oauth2, prefect_secrets._tokens.gcp,"
        " prefect_secrets._tokens.kubernetes\n"
        "heavy = ('authlib', 'httpx', 'httpx2', 'google', 'lightkube', 'prefect.')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


# --- masking -------------------------------------------------------------------------------

FLOW = """
import logging
import os
import sys

from prefect import flow, get_run_logger, task

from prefect_secrets import Secret, SecretTask, with_secrets


@task
@with_secrets(Secret("CRM_TOKEN", as_env_var="CRM_TOKEN"))
def injected() -> int:
    print(f"injected CRM_TOKEN={os.environ['CRM_TOKEN']}")
    return len(os.environ["CRM_TOKEN"])


@flow(log_prints=True)
def call_crm() -> int:
    token = Secret("CRM_TOKEN").get()
    get_run_logger().info("calling the CRM with %s", token)
    logging.getLogger("crm.client").warning("stdlib logger got %s", token)
    print(f"printed token={token}")
    from_task = SecretTask("CRM_TOKEN")()
    print(f"task token={from_task} same={from_task == token}")
    assert injected() == len(token)
    return len(token)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    length = call_crm()
    print(f"after the flow: {Secret('CRM_TOKEN').get()} ({length} characters)")
"""


def test_a_token_is_masked_in_a_flows_logs_and_prints(
    idp: OAuth2Server,
    client: tuple[str, str],
    write_config: Callable[..., Path],
    prefect_server: PrefectServer,
    tmp_path: Path,
) -> None:
    client_id, _ = client
    write_config(declaration(idp, client_id))
    script = tmp_path / "call_crm.py"
    script.write_text(FLOW)
    issued_before = len(idp.issued_tokens)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_API_URL": prefect_server.api_url},
        timeout=180,
    )
    output = result.stdout + result.stderr
    issued = idp.issued_tokens[issued_before:]
    leaked = sum(output.count(token) for token in issued)
    jwt_like = len(re.findall(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", output))
    assert result.returncode == 0, output[-3000:] if not leaked else "(output holds a token)"
    assert len(issued) == 1  # minted once in the process, reused after the flow
    assert leaked == 0
    assert jwt_like == 0
    assert f"calling the CRM with {MASK}" in output
    assert f"stdlib logger got {MASK}" in output
    assert f"printed token={MASK}" in output
    assert f"task token={MASK} same=True" in output
    assert f"injected CRM_TOKEN={MASK}" in output
    assert f"after the flow: {MASK} (" in result.stdout


# --- a security context declaring a token ------------------------------------------------------


def test_a_security_contexts_preflight_mints_its_tokens_and_names_every_missing_name(
    idp: OAuth2Server,
    client: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    """`SecurityContext(tokens=[...])` declares its tokens and mints each once, before any
    task; with the client secret gone, one error names it beside the missing secret."""
    from prefect_secrets import SecurityContext

    client_id, _ = client
    token = OAuth2ClientCredentials(
        "CRM_TOKEN",
        client_id=client_id,
        client_secret="CRM_CLIENT_SECRET",
        token_endpoint=idp.token_endpoint,
    )
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__CRM_DB", fake("db"))
    context = SecurityContext(secrets=[Secret("CRM_DB")], tokens=[token])
    context.preflight()
    assert idp.token_requests == 1
    idp.verify(Secret("CRM_TOKEN").get())  # the minted token, from the cache
    assert idp.token_requests == 1

    withdraw_tokens()
    MINTED.forget()
    monkeypatch.delenv(SECRET_VAR)
    monkeypatch.delenv("PREFECT__CONTEXT__SECRETS__CRM_DB")
    with pytest.raises(SecretNotFound) as caught:
        SecurityContext(secrets=[Secret("CRM_DB")], tokens=[token]).preflight()
    message = str(caught.value)
    assert "CRM_DB" in message
    assert "CRM_CLIENT_SECRET" in message
    assert idp.token_requests == 1
