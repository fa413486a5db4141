"""Deploy with the secrets in a server-side store, read at run time: Prefect Secret blocks.

    prefect-secrets set WAREHOUSE_PASSWORD --server      # once: the block 'warehouse-password'
    PREFECT_API_URL=http://127.0.0.1:4200/api python flows/deploy_server_store.py

The flow reads `Secret("WAREHOUSE_PASSWORD").get()`; at run time the `server` source
reads the Secret block from the Prefect server the run reports to (a flow run always
has PREFECT_API_URL and its credentials). The deployment only says which sources to
ask, in its job variables; for a cloud manager, name it instead
(`PREFECT_SECRETS_SOURCES=context,aws`) and give the run its identity (an IAM role).

The deployment holds no value: `prefect-secrets doctor --deployments` finds nothing
in it (nor in the block's value, which it compares by keyed hash).
"""

from __future__ import annotations

import asyncio

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.workers.process import ProcessWorker

from prefect_secrets import Secret, SecurityContext

POOL = "etl-process"
CTX = SecurityContext(secrets=[Secret("WAREHOUSE_PASSWORD")])


@flow
@CTX.require
def nightly_report() -> None:
    password = Secret("WAREHOUSE_PASSWORD").get()  # the block 'warehouse-password'
    assert password


async def create_pool() -> None:
    async with get_client() as client:
        template = ProcessWorker.get_default_base_job_template()
        await client.create_work_pool(
            WorkPoolCreate(name=POOL, type="process", base_job_template=template), overwrite=True
        )


def main() -> None:
    asyncio.run(create_pool())
    deployment = nightly_report.to_deployment(
        name="process",
        work_pool_name=POOL,
        # Which stores to ask, never what they hold.
        job_variables={"env": {"PREFECT_SECRETS_SOURCES": "context,server"}},
    )
    deployment.apply()
    print(
        f"deployment 'nightly-report/process' on work pool '{POOL}': the store is named, no value"
    )


if __name__ == "__main__":
    main()
