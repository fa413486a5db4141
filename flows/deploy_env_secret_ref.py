"""Deploy with the secret as a *reference*: the platform's secret store fills the env var.

    PREFECT_API_URL=http://127.0.0.1:4200/api python flows/deploy_env_secret_ref.py

The flow reads `Secret("WAREHOUSE_PASSWORD").get()`; at run time the `env` source finds
it in `PREFECT__CONTEXT__SECRETS__WAREHOUSE_PASSWORD`, which the platform sets when it
starts the container:

- Kubernetes: the work pool's job manifest has an `env` entry with
  `valueFrom.secretKeyRef` {name: etl-secrets, key: WAREHOUSE_PASSWORD} (create the
  Secret with `kubectl create secret generic etl-secrets --from-literal=...`);
- ECS: the task definition's container `secrets` has `valueFrom` the ARN of the AWS
  Secrets Manager secret (the execution role needs `secretsmanager:GetSecretValue`).

The work pools and deployments hold names and ARNs, never a value:
`prefect-secrets doctor --deployments` finds nothing in them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate

from prefect_secrets import (
    Identity,
    Secret,
    SecurityContext,
    to_base_job_template,
    to_job_variables,
)

K8S_POOL = "etl-kubernetes"
ECS_POOL = "etl-ecs"
K8S_CTX = SecurityContext(
    run_as=Identity(k8s_service_account="etl-runner"), secrets=[Secret("WAREHOUSE_PASSWORD")]
)
ECS_CTX = SecurityContext(secrets=[Secret("WAREHOUSE_PASSWORD")])


@flow
@K8S_CTX.require  # a run without the secret fails before its first task, naming it
def nightly_load() -> None:
    password = Secret("WAREHOUSE_PASSWORD").get()  # from the env var the platform set
    assert password


async def create_pool(name: str, pool_type: str, template: dict[str, Any]) -> None:
    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(name=name, type=pool_type, base_job_template=template), overwrite=True
        )


def main() -> None:
    # The pools carry the references (prefect work-pool create ... --base-job-template).
    k8s_template = to_base_job_template(K8S_CTX, "kubernetes", k8s_secret_name="etl-secrets")
    asyncio.run(create_pool(K8S_POOL, "kubernetes", k8s_template))
    ecs_template = to_base_job_template(
        ECS_CTX,
        "ecs",
        aws_secret_arn_prefix="arn:aws:secretsmanager:us-east-1:123456789012:secret:",
    )
    asyncio.run(create_pool(ECS_POOL, "ecs", ecs_template))
    # The deployments carry who the run runs as, and no secret at all.
    for name, pool, variables in (
        ("k8s", K8S_POOL, to_job_variables(K8S_CTX, "kubernetes")),
        ("ecs", ECS_POOL, to_job_variables(ECS_CTX, "ecs")),
    ):
        deployment = nightly_load.to_deployment(
            name=name, work_pool_name=pool, job_variables=variables
        )
        deployment.apply()
        print(f"deployment 'nightly-load/{name}' on work pool '{pool}': references only")


if __name__ == "__main__":
    main()
