"""`prefect-secrets doctor --deployments` against the session's real Prefect server.

Deployments, work pools and variables are created with Prefect's own client (as users
create them), each named uniquely and deleted afterwards. The secrets this machine
holds are fake values in env vars and the config file; the command runs in a
subprocess, as users run it. No assertion message may show a value: checks on output
are computed into booleans first.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prefect_secrets._core.leaks import Fingerprints, string_leaves
from tests.support.cli import Result, run_cli
from tests.support.servers import PrefectServer

ROOT = Path(__file__).parent.parent
FLOW_NAME = "fake-doctor-flow"
COUNTS = re.compile(r"nothing found: \d+ deployments, \d+ work pools, \d+ variables scanned")
# Obviously fake, and shaped like a GitHub token (ghp_ + 36 characters).
FAKE_GITHUB_TOKEN = "ghp_" + "FakeTokenForTestsOnly" + "0" * 15


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def forms(value: str) -> list[str]:
    """The value and the ways output could quote it."""
    return [value, json.dumps(value), repr(value), json.dumps(json.dumps(value))[1:-1]]


def shows_any(result: Result, values: list[str]) -> bool:
    return any(form in result.output for value in values for form in forms(value))


def doctor() -> Result:
    return run_cli("doctor", "--deployments")


class ServerObjects:
    """Creates deployments, work pools and variables; deletes them all afterwards."""

    def __init__(self) -> None:
        self.deployments: list[Any] = []
        self.pools: list[str] = []
        self.variables: list[str] = []

    def deployment(
        self, *, parameters: Any = None, job_variables: Any = None, default: str = ""
    ) -> str:
        """A deployment of a flow whose parameter `password` defaults to `default`."""
        from prefect import flow
        from prefect.client.orchestration import get_client
        from prefect.utilities.callables import parameter_schema

        @flow(name=FLOW_NAME)
        def fake_flow(password: str = default) -> None:
            pass

        name = unique("fake-deployment")

        async def create() -> Any:
            async with get_client() as client:
                flow_id = await client.create_flow(fake_flow)
                return await client.create_deployment(
                    flow_id=flow_id,
                    name=name,
                    parameters=parameters or {},
                    parameter_openapi_schema=parameter_schema(fake_flow).model_dump(),
                    job_variables=job_variables or {},
                )

        self.deployments.append(asyncio.run(create()))
        return name

    def work_pool(self, template: dict[str, Any]) -> str:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import WorkPoolCreate

        name = unique("fake-pool")

        async def create() -> None:
            async with get_client() as client:
                await client.create_work_pool(
                    WorkPoolCreate(name=name, type="kubernetes", base_job_template=template)
                )

        asyncio.run(create())
        self.pools.append(name)
        return name

    def variable(self, value: Any) -> str:
        from prefect.variables import Variable

        name = unique("fake_variable").replace("-", "_")
        Variable.set(name, value)
        self.variables.append(name)
        return name

    def delete(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.variables import Variable

        async def delete() -> None:
            async with get_client() as client:
                for deployment_id in self.deployments:
                    await client.delete_deployment(deployment_id)
                for pool in self.pools:
                    await client.delete_work_pool(pool)

        asyncio.run(delete())
        for name in self.variables:
            Variable.unset(name)


@pytest.fixture
def on_server(server: PrefectServer) -> Iterator[ServerObjects]:
    objects = ServerObjects()
    yield objects
    objects.delete()


@pytest.fixture
def env_secret(
    monkeypatch: pytest.MonkeyPatch,
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> tuple[str, str]:
    """(name, value) of a secret the `env` source holds."""
    name = unique_name("DB_PASSWORD")
    value = fake("db-password")
    monkeypatch.setenv(f"PREFECT__CONTEXT__SECRETS__{name}", value)
    return name, value


def test_a_parameter_and_a_job_variable_equal_to_an_env_secret_are_found(
    on_server: ServerObjects, env_secret: tuple[str, str]
) -> None:
    name, value = env_secret
    deployment = on_server.deployment(
        parameters={"password": value}, job_variables={"env": {"DB_PASSWORD": value}}
    )
    with_default = on_server.deployment(default=value)
    result = doctor()
    assert result.code == 4
    assert not shows_any(result, [value])
    owner = f"deployment '{FLOW_NAME}/{deployment}'"
    assert f"{owner} parameters.password: equals secret {name} (env)" in result.stdout
    assert f"{owner} job_variables.env.DB_PASSWORD: equals secret {name} (env)" in result.stdout
    # A default in the flow's signature, as the deployment's parameter schema keeps it.
    assert (
        f"deployment '{FLOW_NAME}/{with_default}' "
        f"parameter_openapi_schema.properties.password.default: equals secret {name} (env)"
    ) in result.stdout
    assert "nothing found" not in result.output


def test_json_and_embedded_forms_of_a_file_secret_are_found(
    on_server: ServerObjects,
    write_config: Callable[..., Path],
    unique_name: Callable[[str], str],
    fake: Callable[[str], str],
) -> None:
    name = unique_name("WAREHOUSE")
    password = fake("warehouse-password")
    write_config(f'[context.secrets]\n{name} = {{ user = "etl", password = "{password}" }}\n')
    deployment = on_server.deployment(
        job_variables={
            # Compact JSON: `{"user": "etl"` with a space is a value test_bad_input hands
            # out, registered for the rest of the session, which the storage guard refuses.
            "env": {
                "WAREHOUSE_JSON": json.dumps(
                    {"user": "etl", "password": password}, separators=(",", ":")
                )
            },
            "command": f"python load.py --password={password}",
        }
    )
    result = doctor()
    assert result.code == 4
    assert not shows_any(result, [password])
    owner = f"deployment '{FLOW_NAME}/{deployment}'"
    assert (
        f"{owner} job_variables.env.WAREHOUSE_JSON.password: equals secret {name} (file)"
    ) in result.stdout
    assert f"{owner} job_variables.command: contains secret {name} (file)" in result.stdout
    # "etl" (the user) is too short to be compared: no finding for it elsewhere.
    assert result.stdout.count(f"secret {name} (file)") == 2


def test_a_work_pool_template_and_a_variable_holding_a_secret_are_found(
    on_server: ServerObjects, env_secret: tuple[str, str]
) -> None:
    from prefect_secrets import SecurityContext, to_base_job_template

    name, value = env_secret
    template = to_base_job_template(SecurityContext(), "kubernetes")
    template["job_configuration"]["env"] = {"DB_PASSWORD": value}
    pool = on_server.work_pool(template)
    variable = on_server.variable({"connection": {"password": value}})
    result = doctor()
    assert result.code == 4
    assert not shows_any(result, [value])
    assert (
        f"work pool '{pool}' base_job_template.job_configuration.env.DB_PASSWORD: "
        f"equals secret {name} (env)"
    ) in result.stdout
    assert f"variable '{variable}' value.connection.password: equals secret {name} (env)" in (
        result.stdout
    )


def test_a_token_shaped_value_is_found_as_a_pattern_match(on_server: ServerObjects) -> None:
    deployment = on_server.deployment(job_variables={"env": {"GH_TOKEN": FAKE_GITHUB_TOKEN}})
    result = doctor()
    assert result.code == 4
    assert not shows_any(result, [FAKE_GITHUB_TOKEN])
    assert (
        f"deployment '{FLOW_NAME}/{deployment}' job_variables.env.GH_TOKEN: matches pattern github"
    ) in result.stdout


# --- the flows/ examples ------------------------------------------------------------------

EXAMPLES = {
    "deploy_env_secret_ref.py": (
        ["nightly-load/k8s", "nightly-load/ecs"],
        ["etl-kubernetes", "etl-ecs"],
    ),
    "deploy_mounted.py": (["nightly-export/docker"], ["etl-docker"]),
    "deploy_server_store.py": (["nightly-report/process"], ["etl-process"]),
}


def delete_example(deployments: list[str], pools: list[str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async def delete() -> None:
        async with get_client() as client:
            for name in deployments:
                try:
                    deployment = await client.read_deployment_by_name(name)
                except ObjectNotFound:
                    continue
                await client.delete_deployment(deployment.id)
            for pool in pools:
                try:
                    await client.delete_work_pool(pool)
                except ObjectNotFound:
                    continue

    asyncio.run(delete())


def deployment_ids(deployments: list[str]) -> list[Any]:
    from prefect.client.orchestration import get_client

    async def read() -> list[Any]:
        async with get_client() as client:
            return [(await client.read_deployment_by_name(name)).id for name in deployments]

    return asyncio.run(read())


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_each_deploy_example_registers_a_deployment_that_holds_no_value(
    script: str,
    server: PrefectServer,
    save_block: Callable[[str, Any], None],
    fake: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployments, pools = EXAMPLES[script]
    # The secret is held here (env) and, for the server store, in its Secret block.
    value = fake("warehouse-password")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__WAREHOUSE_PASSWORD", value)
    if script == "deploy_server_store.py":
        save_block("warehouse-password", fake("block-warehouse-password"))
    try:
        ran = subprocess.run(
            [sys.executable, f"flows/{script}"],
            cwd=ROOT,
            env={**os.environ, "PREFECT_API_URL": server.api_url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert len(deployment_ids(deployments)) == len(deployments)
        result = doctor()
        # The session's server also holds other tests' Secret blocks, which this machine's
        # server source lists: at least this test's own values are compared.
        compared = re.search(r"compared with (\d+) secret value\(s\)", result.stdout)
        assert compared is not None
        assert int(compared.group(1)) >= (2 if script == "deploy_server_store.py" else 1)
        assert result.code == 0, result.stdout
        assert COUNTS.search(result.stdout)
        assert not shows_any(result, [value])
    finally:
        delete_example(deployments, pools)


def test_nothing_on_the_server_exits_0_with_the_counts(server: PrefectServer) -> None:
    result = doctor()
    assert result.code == 0, result.output
    assert COUNTS.search(result.stdout)
    assert "Nothing to fix." in result.stdout


def test_without_a_server_it_says_so() -> None:
    result = doctor()
    assert result.code == 4
    assert "no PREFECT_API_URL" in result.stdout


# --- the comparison itself ------------------------------------------------------------------


def test_fingerprints_keep_no_value_and_differ_per_run() -> None:
    value = "fake-fingerprint-value-1234"
    first, second = Fingerprints(), Fingerprints()
    first.add("X (env)", value)
    second.add("X (env)", value)
    assert first.match(value) == ("equals", "X (env)")
    assert first.match(json.dumps(value)) == ("equals", "X (env)")  # the quoted form, decoded
    assert first.match(f"user:{value}@host") == ("contains", "X (env)")
    assert first.match("fake-something-else") is None
    kept = repr(vars(first)) + repr(vars(second))
    leaked = value in kept
    assert not leaked
    assert vars(first)["_labels"].keys() != vars(second)["_labels"].keys()


def test_string_leaves_name_each_field() -> None:
    data = {"env": {"A": "x"}, "args": ["y", '{"k": "z"}']}
    assert list(string_leaves(data)) == [
        ("env.A", "x"),
        ("args[0]", "y"),
        ("args[1]", '{"k": "z"}'),
        ("args[1].k", "z"),
    ]
