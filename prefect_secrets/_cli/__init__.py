"""The `prefect-secrets` command line (`app`), one module per group of commands."""
