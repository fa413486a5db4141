"""Kubernetes service-account tokens (`kind = "k8s_service_account_token"`), through lightkube,
against `KubernetesApiServer`: TokenRequest and TokenReview over HTTPS with the API's own
schema, status codes and RBAC checks, and the pod's mounted service-account directory.

Values are fake and never printed: checks on them are computed into booleans or counts.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prefect_secrets import (
    KubernetesServiceAccountToken,
    Secret,
    SecretSourceError,
    SettingsError,
    declare_tokens,
)
from prefect_secrets._tokens.cache import MINTED
from prefect_secrets._tokens.registry import withdraw_tokens
from tests.support.cli import run_cli
from tests.support.kubernetes import (
    TOKEN_REQUEST_ENDPOINT,
    TOKEN_REVIEW_ENDPOINT,
    KubernetesApiServer,
)


@pytest.fixture(scope="module")
def k8s() -> Iterator[KubernetesApiServer]:
    with KubernetesApiServer() as started:
        yield started


@pytest.fixture
def pod(
    k8s: KubernetesApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """This process runs in the fake's pod: its service-account directory, and the API's
    address in KUBERNETES_SERVICE_HOST/PORT. Nothing minted survives the test."""
    directory = k8s.write_service_account_dir(tmp_path / "serviceaccount")
    for name, value in k8s.in_cluster_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PREFECT_SECRETS_RETRIES", "1")
    k8s.reset_counts()
    yield directory
    withdraw_tokens()
    MINTED.forget()
    k8s.clear_faults()
    k8s.max_expiration_seconds = None
    k8s.resume_listening()


def declaration(directory: Path, **fields: object) -> str:
    lines = [
        "[tokens.VAULT_JWT]",
        'kind = "k8s_service_account_token"',
        'audiences = ["fake-vault"]',
        f'service_account_dir = "{directory}"',
    ]
    for key, value in fields.items():
        shown = f'"{value}"' if isinstance(value, str | Path) else str(value)
        lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


def test_a_token_for_the_pods_own_service_account(
    k8s: KubernetesApiServer, pod: Path, write_config: Callable[..., Path]
) -> None:
    write_config(declaration(pod, expiration_seconds=1200))
    token = Secret("VAULT_JWT").get()
    claims = k8s.verify(token, audience="fake-vault")
    assert claims["sub"] == f"system:serviceaccount:{k8s.namespace}:{k8s.service_account}"
    assert claims["exp"] - claims["iat"] == 1200
    assert Secret("VAULT_JWT").get() == token
    assert k8s.count(TOKEN_REQUEST_ENDPOINT) == 1


def test_a_token_for_another_service_account_the_pod_may_mint_for(
    k8s: KubernetesApiServer, pod: Path
) -> None:
    k8s.add_service_account("fake-data", "fake-etl")
    me = f"system:serviceaccount:{k8s.namespace}:{k8s.service_account}"
    k8s.allow(me, "create", "serviceaccounts/token", namespace="fake-data", name="fake-etl")
    declare_tokens(
        KubernetesServiceAccountToken(
            "VAULT_JWT",
            audiences=("fake-vault",),
            service_account="fake-etl",
            namespace="fake-data",
            service_account_dir=str(pod),
        )
    )
    claims = k8s.verify(Secret("VAULT_JWT").get(), audience="fake-vault")
    assert claims["sub"] == "system:serviceaccount:fake-data:fake-etl"


def test_a_forbidden_request_is_an_error_never_retried_nor_replaced_by_the_file(
    k8s: KubernetesApiServer, pod: Path
) -> None:
    k8s.add_service_account(k8s.namespace, "fake-other")
    declare_tokens(
        KubernetesServiceAccountToken(
            "VAULT_JWT",
            audiences=("fake-vault",),
            service_account="fake-other",
            service_account_dir=str(pod),
        )
    )
    with pytest.raises(SecretSourceError) as caught:
        Secret("VAULT_JWT").get()
    message = str(caught.value)
    assert message.startswith(
        "token 'VAULT_JWT' (k8s_service_account_token, Kubernetes TokenRequest for fake-other): "
        "refused (HTTP 403 Forbidden)"
    )
    assert k8s.pod_token not in message
    assert k8s.count(TOKEN_REQUEST_ENDPOINT) == 1


def test_a_token_is_refreshed_before_it_expires(
    k8s: KubernetesApiServer, pod: Path, write_config: Callable[..., Path]
) -> None:
    write_config(declaration(pod))
    # The API shortens the lifetime to 33 s (as --service-account-max-token-expiration
    # does): refreshed when less than 30 s remains, so fresh for about 3 s.
    k8s.max_expiration_seconds = 33
    first = Secret("VAULT_JWT").get()
    assert Secret("VAULT_JWT").get() == first
    time.sleep(3.2)
    second = Secret("VAULT_JWT").get()
    assert second != first
    assert k8s.count(TOKEN_REQUEST_ENDPOINT) == 2


async def test_concurrent_async_lookups_share_one_token_request(
    k8s: KubernetesApiServer, pod: Path, write_config: Callable[..., Path]
) -> None:
    write_config(declaration(pod))
    k8s.delay = 0.3
    values = await asyncio.gather(*(Secret("VAULT_JWT").aget() for _ in range(100)))
    assert len(set(values)) == 1
    assert k8s.count(TOKEN_REQUEST_ENDPOINT) == 1


def test_an_unreachable_api_falls_back_to_the_projected_token_file(
    k8s: KubernetesApiServer, pod: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    projected = k8s.write_projected_token(tmp_path / "vault-token", audiences=["fake-vault"])
    write_config(declaration(pod, token_file=projected.path))
    k8s.stop_listening()
    assert Secret("VAULT_JWT").get() == projected.token


def test_an_unreachable_api_and_an_expired_file_is_an_error_naming_both(
    k8s: KubernetesApiServer, pod: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    k8s.leeway_seconds = 0
    projected = k8s.write_projected_token(
        tmp_path / "vault-token", audiences=["fake-vault"], expiration_seconds=1
    )
    write_config(declaration(pod, token_file=projected.path))
    time.sleep(1.1)
    k8s.stop_listening()
    with pytest.raises(SecretSourceError) as caught:
        Secret("VAULT_JWT").get()
    k8s.leeway_seconds = 60
    message = str(caught.value)
    assert "unreachable (ConnectError), 2 attempts" in message
    assert f"the fallback token file {projected.path} has expired" in message
    assert projected.token not in message


def test_outside_a_pod_the_kubeconfig_is_used(
    k8s: KubernetesApiServer, pod: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in k8s.in_cluster_environment():
        monkeypatch.delenv(name)
    monkeypatch.setenv("KUBECONFIG", str(k8s.write_kubeconfig(tmp_path / "kubeconfig")))
    declare_tokens(
        KubernetesServiceAccountToken(
            "VAULT_JWT",
            audiences=("fake-vault",),
            service_account=k8s.service_account,
            service_account_dir=str(tmp_path / "not-a-pod"),
        )
    )
    claims = k8s.verify(Secret("VAULT_JWT").get(), audience="fake-vault")
    assert claims["kubernetes.io"]["namespace"] == k8s.namespace


@pytest.mark.parametrize(
    ("fields", "line", "expected"),
    [
        ({"expiration_seconds": 60}, 5, "expiration_seconds must be at least 600"),
        ({"expiration_seconds": '"1h"'}, 5, "must be a positive whole number of seconds"),
        ({"audience": '"vault"'}, 5, "audience is not a setting of this kind of token"),
    ],
)
def test_a_bad_declaration_is_an_error_naming_the_file_and_line(
    pod: Path,
    write_config: Callable[..., Path],
    fields: dict[str, object],
    line: int,
    expected: str,
) -> None:
    text = declaration(pod) + "".join(f"{key} = {value}\n" for key, value in fields.items())
    path = write_config(text)
    with pytest.raises(SettingsError) as caught:
        Secret("VAULT_JWT").get()
    assert f"{path}, line {line}: [tokens.VAULT_JWT] " in str(caught.value)
    assert expected in str(caught.value)


def test_doctor_mints_the_token_and_checks_it_with_token_review(
    k8s: KubernetesApiServer, pod: Path, write_config: Callable[..., Path]
) -> None:
    write_config(declaration(pod))
    result = run_cli("doctor")
    user = f"system:serviceaccount:{k8s.namespace}:{k8s.service_account}"
    assert re.search(
        r"✓ VAULT_JWT: minted \(k8s_service_account_token\), expires in (359\d|3600) s; "
        rf"TokenReview: authenticated=True, user={user}, audiences=\['fake-vault'\]",
        result.stdout,
    ), result.output
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", result.output)
    assert k8s.count(TOKEN_REVIEW_ENDPOINT) == 1


def test_without_the_extra_the_error_says_what_to_install(
    pod: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    write_config(declaration(pod))
    shim = tmp_path / "no-lightkube"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['lightkube'] = None  # as if not installed\n"
    )
    path = os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH")) if p)
    result = run_cli("get", "VAULT_JWT", env={"PYTHONPATH": path})
    assert result.code == 5, result.output
    assert (
        "token 'VAULT_JWT' (k8s_service_account_token) needs lightkube: "
        'pip install "prefect-secrets[kubernetes]"'
    ) in result.stderr
