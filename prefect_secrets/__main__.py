"""`python -m prefect_secrets`: the `prefect-secrets` command (see `_cli`)."""

from __future__ import annotations

from prefect_secrets._cli.app import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
