"""Quickstart: one flow that reads a secret from each source, and says where each came from.

    python flows/quickstart.py

Works on a fresh machine with nothing configured: it writes a demo config
file to a temporary directory, sets a demo env var, puts a demo value in the
in-process context, and saves a demo `Secret` block to Prefect's temporary
server (a throwaway one, in a temporary PREFECT_HOME: your own server and
~/.prefect are not touched). Every demo value is fake; none is ever printed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# Everything below must be set before Prefect is imported: it reads its
# settings once. The demo runs against its own temporary server and home.
DEMO_DIR = Path(tempfile.mkdtemp(prefix="prefect-secrets-quickstart-"))
if os.environ.pop("PREFECT_API_URL", None):
    print("quickstart: ignoring PREFECT_API_URL; the demo uses its own temporary server")
os.environ["PREFECT_HOME"] = str(DEMO_DIR / "prefect-home")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SECRETS_CONFIG"] = str(DEMO_DIR / "config.toml")
os.environ["PREFECT_SECRETS_PREFECT1_CONFIG"] = ""  # don't read a real ~/.prefect/config.toml
os.environ["PREFECT__CONTEXT__SECRETS__DEMO_API_TOKEN"] = "fake-token-from-env"

CONFIG = """\
# A demo of ~/.config/prefect-secrets/config.toml (see config.example.toml).
[context.secrets]
DEMO_WAREHOUSE = { user = "etl", password = "fake-password-from-file" }
"""

import prefect_secrets  # noqa: E402
from prefect_secrets import Secret  # noqa: E402

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


def main() -> int:
    from prefect import flow, get_run_logger

    @flow(name="prefect-secrets-quickstart")
    def quickstart() -> list[str]:
        logger = get_run_logger()
        lines = [describe(name) for name in SECRETS]
        for line in lines:
            logger.info(line)
        return lines

    try:
        set_up_demo_sources()
        lines = quickstart()
        print("\nWhere each secret came from (values are never printed):")
        for line in lines:
            print("  " + line)
        print("\nTry it yourself: prefect_secrets.Secret('NAME').get()")
        return 0
    finally:
        shutil.rmtree(DEMO_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
