"""`SecurityContext` and `Identity`: declared secrets and tokens checked before a flow's first
task, with real flow runs against the session's real Prefect server.

Values are fake and never printed: checks on them are computed into booleans first.
"""

from __future__ import annotations

import asyncio
import gc
import pickle
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import pytest

from prefect_secrets import (
    Identity,
    OAuth2ClientCredentials,
    Secret,
    SecretNotFound,
    SecretSourceError,
    SecurityContext,
)
from prefect_secrets._masking.registry import redact
from prefect_secrets._tokens.registry import withdraw_tokens
from tests.support.servers import PrefectServer

# As in test_task.py: Prefect's unclosed sync client of each flow run, collected here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)

Names = Callable[[str], str]
Fake = Callable[[str], str]


@pytest.fixture(autouse=True)
def _collect_prefects_unclosed_clients(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        gc.collect()


def a_token(name: str) -> OAuth2ClientCredentials:
    """A token declaration: names only (its client secret is another secret's name)."""
    return OAuth2ClientCredentials(
        name,
        client_id="fake-client",
        client_secret=f"{name}_CLIENT_SECRET",
        token_endpoint="http://127.0.0.1:9/token",  # never reached by these tests
    )


@pytest.fixture(autouse=True)
def no_token_left() -> Iterator[None]:
    yield
    withdraw_tokens()


def env_secret(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"PREFECT__CONTEXT__SECRETS__{name}", value)


# --- the values ------------------------------------------------------------------------------


def test_identity_is_frozen_and_checked() -> None:
    identity = Identity(
        k8s_service_account="etl-runner", iam_role="arn:aws:iam::123456789012:role/x"
    )
    with pytest.raises(AttributeError):
        identity.iam_role = None  # type: ignore[misc]
    with pytest.raises(ValueError, match="k8s_service_account 'Etl_Runner': not a Kubernetes"):
        Identity(k8s_service_account="Etl_Runner")
    with pytest.raises(
        ValueError, match=r"Identity\.execution_role 'etl-exec': not an IAM role ARN"
    ):
        Identity(execution_role="etl-exec")


def test_a_context_holds_names_only_and_pickles() -> None:
    ctx = SecurityContext(
        run_as=Identity(k8s_service_account="etl-runner"),
        secrets=[Secret("DB_PASSWORD", version="3"), "API_KEY", "API_KEY"],
        tokens=[a_token("GITHUB_TOKEN")],
    )
    assert ctx.secrets == (Secret("DB_PASSWORD", version="3"), Secret("API_KEY"))
    assert ctx.required()[-1] == Secret("GITHUB_TOKEN")
    assert pickle.loads(pickle.dumps(ctx)) == ctx
    assert "tokens=['GITHUB_TOKEN']" in repr(ctx)
    assert "version='3'" in repr(ctx)
    with pytest.raises(TypeError, match="sequence of Secret"):
        SecurityContext(secrets="DB_PASSWORD")
    with pytest.raises(TypeError, match="tokens must be OAuth2ClientCredentials"):
        SecurityContext(tokens=[object()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="run_as must be an Identity"):
        SecurityContext(run_as="etl-runner")  # type: ignore[arg-type]


# --- preflight ---------------------------------------------------------------------------------


def test_preflight_resolves_everything_once_and_registers_it_for_masking(
    monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("PRESENT"), fake("present")
    env_secret(monkeypatch, name, value)
    SecurityContext(secrets=[Secret(name)]).preflight()
    masked = value not in redact(f"seen: {value}")
    assert masked


def test_preflight_names_every_missing_secret_in_one_error(
    monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    present, value = unique_name("PRESENT"), fake("present")
    env_secret(monkeypatch, present, value)
    missing = [unique_name("MISSING_A"), unique_name("MISSING_B"), unique_name("MISSING_C")]
    # A token whose client secret is missing: its mint names that secret.
    token = a_token(missing[2])
    ctx = SecurityContext(secrets=[missing[0], present, missing[1]], tokens=[token])
    with pytest.raises(SecretNotFound) as raised:
        ctx.preflight()
    assert raised.value.names == (missing[0], missing[1], token.client_secret)
    message = str(raised.value)
    assert all(name in message for name in (missing[0], missing[1], token.client_secret))
    assert value not in message


def test_a_failing_source_and_missing_names_are_one_error(
    monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    """A pin that env cannot honour is a failure of its own; the missing names are listed
    with it, so that one run shows everything to fix."""
    pinned, value = unique_name("PINNED"), fake("pinned")
    env_secret(monkeypatch, pinned, value)
    missing = unique_name("MISSING")
    ctx = SecurityContext(secrets=[Secret(pinned, version="2"), missing])
    with pytest.raises(SecretSourceError) as raised:
        ctx.preflight()
    message = str(raised.value)
    assert message.startswith("preflight: 2 of 2 declared secrets cannot be resolved")
    assert f"missing: '{missing}'" in message
    assert f"'{pinned}' (version=2): secret '{pinned}' is pinned" in message
    assert value not in message


async def test_apreflight_from_async_code(
    monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    env_secret(monkeypatch, "FAKE_PRESENT", "fake-present-value")
    await SecurityContext(secrets=["FAKE_PRESENT"]).apreflight()
    name = unique_name("MISSING")
    with pytest.raises(SecretNotFound, match=name):
        await SecurityContext(secrets=["FAKE_PRESENT", name]).apreflight()


# --- real flow runs ----------------------------------------------------------------------------


def run_record(flow_run_id: UUID) -> tuple[Any, list[Any]]:
    """The flow run and its task runs, as the server has them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return flow_run, tasks


def test_a_flow_run_missing_secrets_fails_before_its_first_task(
    server: PrefectServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    from prefect import flow, task

    present, value = unique_name("PRESENT"), fake("present")
    env_secret(monkeypatch, present, value)
    missing = [unique_name("MISSING_A"), unique_name("MISSING_B")]
    ctx = SecurityContext(secrets=[present, *missing])
    ran: list[str] = []

    @task
    def extract() -> None:
        ran.append("extract")

    @flow(name="fake-preflight-failing")
    @ctx.require
    def etl(day: str = "fake-day") -> None:
        extract()

    state = etl(return_state=True)
    flow_run, tasks = run_record(state.state_details.flow_run_id)
    assert flow_run.state.is_failed()
    assert ran == []
    assert tasks == []  # no task run was even created
    message = flow_run.state.message or ""
    assert all(name in message for name in missing)
    assert present not in message  # the one that was found is not named
    assert value not in message


def test_a_flow_run_with_every_secret_runs_its_tasks(
    server: PrefectServer, monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    from prefect import flow, task

    name, value = unique_name("PRESENT"), fake("present")
    env_secret(monkeypatch, name, value)
    ctx = SecurityContext(secrets=[name])

    @task
    def extract() -> bool:
        return bool(Secret(name).get() == value)

    @flow(name="fake-preflight-passing")
    @ctx.require
    def etl(day: str = "fake-day") -> bool:
        return extract()

    state = etl(return_state=True)
    flow_run, tasks = run_record(state.state_details.flow_run_id)
    assert flow_run.state.is_completed()
    assert len(tasks) == 1
    assert state.result() is True
    assert etl.parameters.properties.keys() == {"day"}  # the flow's own signature is kept


def test_an_async_flow_run_missing_secrets_fails_before_its_first_task(
    server: PrefectServer, unique_name: Names
) -> None:
    from prefect import flow, task

    missing = unique_name("MISSING")
    ran: list[str] = []

    @task
    async def extract() -> None:
        ran.append("extract")

    @flow(name="fake-preflight-async")
    @SecurityContext(secrets=[missing]).require
    async def etl() -> None:
        await extract()

    state = asyncio.run(etl(return_state=True))
    flow_run, tasks = run_record(state.state_details.flow_run_id)
    assert flow_run.state.is_failed()
    assert (ran, tasks) == ([], [])
    assert missing in (flow_run.state.message or "")
