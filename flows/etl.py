"""ETL: warehouse credentials -> a connection -> a query -> a report, without leaking a secret.

    python flows/etl.py

Two secrets, resolved by `SecretTask`s wherever they are kept (env vars in a
deployment, the TOML file in development, Prefect `Secret` blocks in
production):

    WAREHOUSE          {"user": "...", "password": "..."}   a JSON dict
    REPORT_API_TOKEN   "..."                                a string

The tasks that receive them get the real values; anything they log, print
or raise is masked (`********`) on the console and in what Prefect stores.
Tasks that take a secret (or a connection holding one) use `NO_CACHE`:
caching would hash them into a cache key and persist what they return.

Run as is, `main()` sets up a demo: a SQLite "warehouse" with a login, and
fake secrets in `prefect_secrets.context` (this process only). To use it for
real, drop `set_up_demo()` and point `database` at your warehouse. It runs
on your Prefect configuration: with none, Prefect's temporary server, whose
database Prefect keeps in ~/.prefect.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# With no Prefect server configured, Prefect starts a temporary one, which first creates
# its database (10-20 s on a busy 2-core machine): wait longer than its default 20 s.
# Before `import prefect`, which reads its settings once.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

import prefect_secrets
from prefect_secrets import SecretTask

# Retried on a failing source (a server restart), never on a missing secret.
warehouse_credentials = SecretTask("WAREHOUSE", retries=3, retry_delay_seconds=2)
report_api_token = SecretTask("REPORT_API_TOKEN")

REVENUE_BY_REGION = "SELECT region, SUM(amount) FROM orders GROUP BY region ORDER BY region"


@dataclass
class WarehouseConnection:
    """An authenticated connection. Its repr leaves the password out."""

    database: str
    user: str
    password: str = field(repr=False)

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.database) as db:
            return db.execute(sql).fetchall()


@task(cache_policy=NO_CACHE)
def connect(database: str, credentials: dict[str, str]) -> WarehouseConnection:
    logger = get_run_logger()
    logger.info("connecting with %s", credentials)  # a debugging leftover: masked
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT password_sha256 FROM logins WHERE user = ?", (credentials["user"],)
        ).fetchone()
    digest = hashlib.sha256(credentials["password"].encode()).hexdigest()
    if row is None or row[0] != digest:
        raise PermissionError(f"authentication failed for {credentials['user']}")
    return WarehouseConnection(database, credentials["user"], credentials["password"])


@task(cache_policy=NO_CACHE)
def extract(connection: WarehouseConnection, sql: str) -> list[tuple[object, ...]]:
    rows = connection.query(sql)
    get_run_logger().info("%d rows from %r", len(rows), connection)
    return rows


@task
def transform(rows: list[tuple[object, ...]]) -> dict[str, float]:
    return {str(region): round(float(str(total)), 2) for region, total in rows}


@task(cache_policy=NO_CACHE)
def publish(report: dict[str, float], token: str, output: str) -> str:
    # Stands in for an HTTP upload; the careless log line is the point.
    print(f"POST https://reports.example.invalid/revenue Authorization: Bearer {token}")
    path = Path(output) / "revenue.json"
    path.write_text(json.dumps(report, indent=2))
    return str(path)


@flow(log_prints=True)
def etl(database: str, output: str) -> dict[str, float]:
    credentials = warehouse_credentials()
    token = report_api_token.submit()  # resolved while the warehouse is queried
    connection = connect(database, credentials)
    report = transform(extract(connection, REVENUE_BY_REGION))
    publish(report, token, output)
    return report


def set_up_demo(directory: Path) -> str:
    """A SQLite warehouse with one login and some orders, and fake secrets for it."""
    credentials = {"user": "etl_loader", "password": "fake-warehouse-password"}
    database = directory / "warehouse.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE logins (user TEXT PRIMARY KEY, password_sha256 TEXT)")
        db.execute(
            "INSERT INTO logins VALUES (?, ?)",
            (credentials["user"], hashlib.sha256(credentials["password"].encode()).hexdigest()),
        )
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, region TEXT, amount REAL)")
        db.executemany(
            "INSERT INTO orders (region, amount) VALUES (?, ?)",
            [("north", 120.5), ("south", 80.0), ("north", 99.5), ("west", 42.25)],
        )
    db.close()
    # In production these come from env vars, the config file or the server.
    prefect_secrets.context.secrets["WAREHOUSE"] = json.dumps(credentials)
    prefect_secrets.context.secrets["REPORT_API_TOKEN"] = "fake-report-api-token"
    return str(database)


def main() -> int:
    directory = Path(tempfile.mkdtemp(prefix="prefect-secrets-etl-"))
    try:
        report = etl(database=set_up_demo(directory), output=str(directory))
        print("\nRevenue by region:")
        for region, total in report.items():
            print(f"  {region:<6} {total:>8.2f}")
        return 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
