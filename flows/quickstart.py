"""Quickstart: a flow that reads a secret from each source, says where each came from,
passes them to tasks with `SecretTask`, and shows that they are masked in every log.

    python flows/quickstart.py

Works on a fresh machine with nothing configured: it writes a demo config
file to a temporary directory, sets a demo env var, puts a demo value in the
in-process context, and saves a demo `Secret` block to Prefect's temporary
server (a throwaway one, in a temporary PREFECT_HOME: your own server and
~/.prefect are not touched). Every demo value is fake; none is ever printed:
the tasks below log them by "mistake", and the logs show `********`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from uuid import UUID

# Everything below must be set before Prefect is imported: it reads its
# settings once. The demo runs against its own temporary server and home.
DEMO_DIR = Path(tempfile.mkdtemp(prefix="prefect-secrets-quickstart-"))
if os.environ.pop("PREFECT_API_URL", None):
    print("quickstart: ignoring PREFECT_API_URL; the demo uses its own temporary server")
os.environ["PREFECT_HOME"] = str(DEMO_DIR / "prefect-home")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# A fresh temporary server first creates its database (10-20 s on a busy 2-core
# machine): more than Prefect's default 20 s wait leaves room for a slow start.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ["PREFECT_SECRETS_CONFIG"] = str(DEMO_DIR / "config.toml")
os.environ["PREFECT_SECRETS_PREFECT1_CONFIG"] = ""  # don't read a real ~/.prefect/config.toml
os.environ["PREFECT__CONTEXT__SECRETS__DEMO_API_TOKEN"] = "fake-token-from-env"

CONFIG = """\
# A demo of ~/.config/prefect-secrets/config.toml (see config.example.toml).
[context.secrets]
DEMO_WAREHOUSE = { user = "etl_loader", password = "fake-password-from-file" }
"""

from prefect import flow, get_run_logger, task  # noqa: E402

import prefect_secrets  # noqa: E402
from prefect_secrets import Secret, SecretTask  # noqa: E402

SECRETS = ["DEMO_SESSION_KEY", "DEMO_API_TOKEN", "DEMO_WAREHOUSE", "DEMO_SLACK_WEBHOOK"]


def set_up_demo_sources() -> None:
    config = Path(os.environ["PREFECT_SECRETS_CONFIG"])
    config.write_text(CONFIG)
    config.chmod(0o600)
    prefect_secrets.context.secrets["DEMO_SESSION_KEY"] = "fake-session-key-from-context"

    from prefect.blocks.system import Secret as SecretBlock

    # Starts Prefect's temporary server (a few seconds) and saves a block, as
    # `prefect block create secret` or the Prefect UI would.
    SecretBlock(value="https://hooks.example.invalid/fake").save(
        "demo-slack-webhook", overwrite=True
    )


def describe(name: str) -> str:
    value = Secret(name).get()
    kind = type(value).__name__
    size = f"{len(value)} keys" if isinstance(value, dict) else f"{len(str(value))} characters"
    return f"{name:<20} a {kind} ({size}) from {Secret(name).source()}"


# Three tasks that handle secrets carelessly, as real code sometimes does.
# They receive the real values; everything they write out is masked.


@task
def call_api(token: str) -> bool:
    get_run_logger().info("calling https://api.example.invalid with token %s", token)
    return token == Secret("DEMO_API_TOKEN").get()


@task
def connect_to_warehouse(warehouse: dict[str, str]) -> bool:
    print(f"connecting as {warehouse['user']} with password {warehouse['password']}")
    return warehouse == Secret("DEMO_WAREHOUSE").get()


@task
def notify(webhook: str, session_key: str) -> bool:
    get_run_logger().warning(f"posting to {webhook} (session {session_key!r})")
    return webhook == Secret("DEMO_SLACK_WEBHOOK").get()


@flow(name="prefect-secrets-quickstart", log_prints=True)
def quickstart() -> tuple[list[str], bool]:
    logger = get_run_logger()
    lines = [describe(name) for name in SECRETS]
    for line in lines:
        logger.info(line)
    # Each SecretTask is a task run named after its secret ("secret-DEMO_API_TOKEN");
    # its result (the value) is never persisted or cached.
    token = SecretTask("DEMO_API_TOKEN")()
    warehouse = SecretTask("DEMO_WAREHOUSE")()
    webhook = SecretTask().submit(name="DEMO_SLACK_WEBHOOK")
    session_key = SecretTask("DEMO_SESSION_KEY")()
    received = [call_api(token), connect_to_warehouse(warehouse), notify(webhook, session_key)]
    return lines, all(received)


def stored_logs(flow_run_id: UUID) -> list[str]:
    """The run's log lines as the Prefect server stored them."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()  # logs are shipped in the background
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
            sort=LogSort.TIMESTAMP_ASC,
            limit=200,
            offset=0,
        )
    return [log.message for log in logs]


def main() -> int:
    try:
        set_up_demo_sources()
        state = quickstart(return_state=True)
        lines, received = state.result()
        print("\nWhere each secret came from (values are never printed):")
        for line in lines:
            print("  " + line)
        print(f"\nThe tasks received the real values: {received}")
        flow_run_id = state.state_details.flow_run_id
        if flow_run_id is not None:
            print("\nWhat the Prefect server stored of the tasks' careless logs:")
            for message in stored_logs(flow_run_id):
                if "********" in message:
                    print("  " + message)
        print("\nTry it yourself: prefect_secrets.Secret('NAME').get(), SecretTask('NAME')()")
        return 0
    finally:
        shutil.rmtree(DEMO_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
