"""`to_job_variables` / `to_base_job_template` against the INSTALLED workers' default base job
templates (prefect-kubernetes, prefect-aws's ECS, prefect-docker): the variables validate
against each template's `variables` schema, and the worker's own job configuration,
rendered from template and variables, carries the identity and the secret references
into the manifest / task definition. The session's Prefect server validates them too.

No value is ever written: the declared secrets here have no value anywhere.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import jsonschema
import pytest

from prefect_secrets import (
    Identity,
    Secret,
    SecurityContext,
    to_base_job_template,
    to_job_variables,
)
from tests.support.servers import PrefectServer

ROLE = "arn:aws:iam::123456789012:role/fake-etl-task"
EXEC_ROLE = "arn:aws:iam::123456789012:role/fake-etl-exec"
ARN_PREFIX = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
VERSION_ID = "01234567-89ab-cdef-0123-456789abcdef"


def default_template(pool: str) -> dict[str, Any]:
    if pool == "kubernetes":
        from prefect_kubernetes.worker import KubernetesWorker

        return KubernetesWorker.get_default_base_job_template()
    if pool == "ecs":
        from prefect_aws.workers import ECSWorker

        return ECSWorker.get_default_base_job_template()
    from prefect_docker.worker import DockerWorker

    return DockerWorker.get_default_base_job_template()


def assert_valid(variables: dict[str, Any], pool: str) -> None:
    """Valid for the pool's default template, and every key is one of its variables (the
    schema allows unknown keys, which would be dropped silently)."""
    schema = default_template(pool)["variables"]
    jsonschema.validate(variables, schema)
    assert set(variables) <= set(schema["properties"])


def render(config_class: Any, template: dict[str, Any], variables: dict[str, Any]) -> Any:
    """The worker's job configuration for one flow run, as the worker builds it."""
    from prefect.client.schemas.objects import FlowRun

    config = asyncio.run(config_class.from_template_and_values(template, variables))
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="fake-run"))
    return config


CTX = SecurityContext(
    run_as=Identity(k8s_service_account="fake-etl-runner"),
    secrets=[Secret("DB_PASSWORD"), Secret("API_KEY", project="etl")],
)


# --- Kubernetes --------------------------------------------------------------------------------


def test_kubernetes_service_account_and_secret_key_refs(server: PrefectServer) -> None:
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    variables = to_job_variables(CTX, "kubernetes")
    assert variables == {"service_account_name": "fake-etl-runner"}
    assert_valid(variables, "kubernetes")
    template = to_base_job_template(CTX, "kubernetes", k8s_secret_name="fake-etl-secrets")
    variables["env"] = {"FAKE_PLAIN": "not-a-secret"}  # the pool's own env is kept too
    config = render(KubernetesWorkerJobConfiguration, template, variables)
    pod = config.job_manifest["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "fake-etl-runner"
    env = {entry["name"]: entry for entry in pod["containers"][0]["env"]}
    assert env["PREFECT__CONTEXT__SECRETS__DB_PASSWORD"] == {
        "name": "PREFECT__CONTEXT__SECRETS__DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "fake-etl-secrets", "key": "DB_PASSWORD"}},
    }
    assert env["PREFECT__CONTEXT__SECRETS__API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == (
        "API_KEY"
    )
    assert env["FAKE_PLAIN"]["value"] == "not-a-secret"
    assert "PREFECT__FLOW_RUN_ID" in env  # the worker's own variables still arrive
    assert all("value" not in env[name] for name in env if "CONTEXT__SECRETS" in name)


def test_the_server_accepts_the_template_and_the_variables(server: PrefectServer) -> None:
    """A work pool with the template, and a deployment with the variables: Prefect's own
    validation of both."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    template = to_base_job_template(CTX, "kubernetes", k8s_secret_name="fake-etl-secrets")
    variables = to_job_variables(CTX, "kubernetes")
    pool_name = f"fake-k8s-{uuid.uuid4().hex[:8]}"

    @flow(name="fake-secctx-flow")
    def fake_flow() -> None:
        pass

    async def create() -> dict[str, Any]:
        async with get_client() as client:
            await client.create_work_pool(
                WorkPoolCreate(name=pool_name, type="kubernetes", base_job_template=template)
            )
            flow_id = await client.create_flow(fake_flow)
            deployment_id = await client.create_deployment(
                flow_id=flow_id,
                name="fake-deployment",
                work_pool_name=pool_name,
                job_variables=variables,
            )
            deployment = await client.read_deployment(deployment_id)
            pool = await client.read_work_pool(pool_name)
            return {"variables": deployment.job_variables, "template": pool.base_job_template}

    stored = asyncio.run(create())
    assert stored["variables"] == variables
    manifest = stored["template"]["job_configuration"]["job_manifest"]
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {entry["name"] for entry in env} == {
        "PREFECT__CONTEXT__SECRETS__DB_PASSWORD",
        "PREFECT__CONTEXT__SECRETS__API_KEY",
    }


# --- ECS ---------------------------------------------------------------------------------------


def test_ecs_roles_and_container_secrets(server: PrefectServer) -> None:
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration

    ctx = SecurityContext(
        run_as=Identity(iam_role=ROLE, execution_role=EXEC_ROLE),
        secrets=[
            Secret("DB_PASSWORD"),
            Secret("API_KEY", project="etl", domain="prod"),
            Secret("OLD_TOKEN", version="AWSPREVIOUS"),
            Secret("PINNED", version=VERSION_ID),
        ],
    )
    variables = to_job_variables(ctx, "ecs")
    assert variables == {"task_role_arn": ROLE, "execution_role_arn": EXEC_ROLE}
    assert_valid(variables, "ecs")
    template = to_base_job_template(ctx, "ecs", aws_secret_arn_prefix=ARN_PREFIX)
    config = render(ECSJobConfiguration, template, variables)
    assert config.task_run_request["overrides"]["taskRoleArn"] == ROLE
    assert config.task_definition["executionRoleArn"] == EXEC_ROLE
    secrets = {
        s["name"]: s["valueFrom"]
        for s in config.task_definition["containerDefinitions"][0]["secrets"]
    }
    assert secrets == {
        "PREFECT__CONTEXT__SECRETS__DB_PASSWORD": f"{ARN_PREFIX}prefect/DB_PASSWORD",
        # The `aws` source's names: its prefix, then the scope.
        "PREFECT__CONTEXT__SECRETS__API_KEY": f"{ARN_PREFIX}prefect/etl/prod/API_KEY",
        "PREFECT__CONTEXT__SECRETS__OLD_TOKEN": f"{ARN_PREFIX}prefect/OLD_TOKEN::AWSPREVIOUS:",
        "PREFECT__CONTEXT__SECRETS__PINNED": f"{ARN_PREFIX}prefect/PINNED:::{VERSION_ID}",
    }


def test_ecs_follows_the_aws_prefix_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_AWS_PREFIX", "team/")
    template = to_base_job_template(
        SecurityContext(secrets=[Secret("DB_PASSWORD")]), "ecs", aws_secret_arn_prefix=ARN_PREFIX
    )
    container = template["job_configuration"]["task_definition"]["containerDefinitions"][0]
    assert container["secrets"][0]["valueFrom"] == f"{ARN_PREFIX}team/DB_PASSWORD"


# --- Docker ------------------------------------------------------------------------------------


def test_docker_mounts_the_host_secrets_dir_read_only(server: PrefectServer) -> None:
    from prefect_docker.worker import DockerWorkerJobConfiguration

    ctx = SecurityContext(secrets=[Secret("DB_PASSWORD")])
    variables = to_job_variables(ctx, "docker", host_secrets_dir="/srv/fake-secrets")
    assert variables == {
        "volumes": ["/srv/fake-secrets:/run/secrets:ro"],
        "env": {"PREFECT_SECRETS_MOUNTED_DIRS": "/run/secrets"},
    }
    assert_valid(variables, "docker")
    template = to_base_job_template(ctx, "docker")
    assert template == default_template("docker")
    config = render(DockerWorkerJobConfiguration, template, variables)
    assert config.volumes == ["/srv/fake-secrets:/run/secrets:ro"]
    assert config.env["PREFECT_SECRETS_MOUNTED_DIRS"] == "/run/secrets"


def test_nothing_declared_gives_no_variables() -> None:
    for pool in ("kubernetes", "ecs", "docker"):
        assert to_job_variables(SecurityContext(), pool) == {}
        assert to_base_job_template(SecurityContext(), pool) == default_template(pool)


# --- what a pool cannot express ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "pool", "field"),
    [
        (Identity(k8s_service_account="fake-sa"), "ecs", "run_as.k8s_service_account"),
        (Identity(iam_role=ROLE), "kubernetes", "run_as.iam_role"),
        (Identity(execution_role=EXEC_ROLE), "kubernetes", "run_as.execution_role"),
        (Identity(iam_role=ROLE), "docker", "run_as.iam_role"),
        (Identity(k8s_service_account="fake-sa"), "docker", "run_as.k8s_service_account"),
    ],
)
def test_an_identity_the_pool_cannot_express_is_refused(
    identity: Identity, pool: str, field: str
) -> None:
    ctx = SecurityContext(run_as=identity)
    for build in (to_job_variables, to_base_job_template):
        with pytest.raises(ValueError, match=rf"{field} cannot be expressed by a {pool} work pool"):
            build(ctx, pool)


@pytest.mark.parametrize("pool", ["kubernetes", "docker"])
def test_a_pinned_version_is_refused_where_the_pool_has_no_versions(pool: str) -> None:
    ctx = SecurityContext(secrets=[Secret("DB_PASSWORD", version="3")])
    with pytest.raises(ValueError, match=f"'DB_PASSWORD': version cannot be expressed by a {pool}"):
        to_job_variables(ctx, pool, host_secrets_dir="/srv/fake")


def test_missing_references_and_unknown_pools_are_refused() -> None:
    ctx = SecurityContext(secrets=[Secret("DB_PASSWORD")])
    with pytest.raises(ValueError, match=r"k8s_secret_name is needed .* kubernetes"):
        to_base_job_template(ctx, "kubernetes")
    with pytest.raises(ValueError, match=r"aws_secret_arn_prefix is needed .* ecs"):
        to_base_job_template(ctx, "ecs")
    with pytest.raises(ValueError, match="aws_secret_arn_prefix 'prefect/'"):
        to_base_job_template(ctx, "ecs", aws_secret_arn_prefix="prefect/")
    with pytest.raises(ValueError, match="host_secrets_dir is needed"):
        to_job_variables(ctx, "docker")
    with pytest.raises(ValueError, match="work pool type 'nomad'"):
        to_job_variables(ctx, "nomad")
    twice = SecurityContext(secrets=[Secret("DB_PASSWORD"), Secret("DB_PASSWORD", project="etl")])
    with pytest.raises(ValueError, match="'DB_PASSWORD' is declared twice"):
        to_base_job_template(twice, "kubernetes", k8s_secret_name="fake")


def test_no_value_is_ever_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with every value present in this process, none reaches the output."""
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__DB_PASSWORD", "fake-db-value")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__API_KEY", "fake-api-value")
    outputs = [
        to_base_job_template(CTX, "kubernetes", k8s_secret_name="fake-etl-secrets"),
        to_job_variables(CTX, "kubernetes"),
        to_base_job_template(
            SecurityContext(secrets=CTX.secrets), "ecs", aws_secret_arn_prefix=ARN_PREFIX
        ),
        to_job_variables(SecurityContext(secrets=CTX.secrets), "docker", host_secrets_dir="/x"),
    ]
    text = json.dumps(outputs)
    assert "fake-db-value" not in text
    assert "fake-api-value" not in text
