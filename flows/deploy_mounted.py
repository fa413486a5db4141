"""Deploy with the secrets in a mounted directory: one file per secret, `/run/secrets/NAME`.

    PREFECT_API_URL=http://127.0.0.1:4200/api python flows/deploy_mounted.py

The flow reads `Secret("WAREHOUSE_PASSWORD").get()`; at run time the `mounted` source
reads `/run/secrets/WAREHOUSE_PASSWORD`. Here a Docker work pool mounts the host's
`/srv/etl-secrets` read-only at `/run/secrets` (Docker Swarm and Compose `secrets:`,
and Kubernetes Secret volumes, mount the same directory). `PREFECT_SECRETS_MOUNTED_DIRS`
makes a missing mount an error instead of "not found".

The deployment holds a path, never a value: `prefect-secrets doctor --deployments`
finds nothing in it.
"""

from __future__ import annotations

import asyncio

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate

from prefect_secrets import Secret, SecurityContext, to_base_job_template, to_job_variables

POOL = "etl-docker"
CTX = SecurityContext(secrets=[Secret("WAREHOUSE_PASSWORD")])


@flow
@CTX.require
def nightly_export() -> None:
    password = Secret("WAREHOUSE_PASSWORD").get()  # /run/secrets/WAREHOUSE_PASSWORD
    assert password


async def create_pool() -> None:
    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(
                name=POOL, type="docker", base_job_template=to_base_job_template(CTX, "docker")
            ),
            overwrite=True,
        )


def main() -> None:
    asyncio.run(create_pool())
    # {"volumes": ["/srv/etl-secrets:/run/secrets:ro"],
    #  "env": {"PREFECT_SECRETS_MOUNTED_DIRS": "/run/secrets"}}
    variables = to_job_variables(CTX, "docker", host_secrets_dir="/srv/etl-secrets")
    deployment = nightly_export.to_deployment(
        name="docker", work_pool_name=POOL, job_variables=variables
    )
    deployment.apply()
    print(f"deployment 'nightly-export/docker' on work pool '{POOL}': a mount, no value")


if __name__ == "__main__":
    main()
