"""What a cloud secret manager costs through prefect-secrets, side by side with its own SDK
called bare, against a real local server (moto's AWS Secrets Manager, behind the counting
proxy the tests use).

| figure                                   | anchor                              | goal     |
|------------------------------------------|-------------------------------------|----------|
| first lookup (nothing cached)            | one boto3 `get_secret_value`        | <= 1.2x  |
| cached lookup                            | one boto3 `get_secret_value`        | >= 1000x |
|                                          |                                     | faster   |
| `get_many` of 20 names (nothing cached)  | 20 boto3 `get_secret_value` calls   | >= 5x    |
|                                          |                                     | faster   |

Both sides use a warm client (built, connection open) and the same endpoint; "first"
means the answer cache is empty, as for the first lookup of a name in a process. The
measurements alternate, round after round, and the medians are compared. Lookups are
`Secret(name).get()` with `sources = aws`, as a flow calls it (masking, JSON decoding and
the walk of the sources included).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import Figure, interleaved, median_per_call
from tests.support.aws import MotoServer

__all__ = ["aws_figures"]

NAMES = [f"BENCH_AWS_{index:02d}" for index in range(20)]
PREFIX = "prefect/"


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set env vars for the figures, and put back what was there (other figures follow)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def aws_figures(rounds: int) -> list[Figure]:
    """The AWS Secrets Manager figures, against a moto server started (and stopped) here."""
    with MotoServer() as aws:
        client = aws.client()
        for index, name in enumerate(NAMES):
            client.create_secret(Name=PREFIX + name, SecretString=f"fake-bench-aws-{index}")
        # A deployment reading AWS has no config file of ours: lookups see none.
        no_file = os.path.join(tempfile.mkdtemp(prefix="prefect-secrets-bench-"), "none.toml")
        env = {**aws.env(), "PREFECT_SECRETS_SOURCES": "aws", "PREFECT_SECRETS_CONFIG": no_file}
        with _environment(env):
            return _figures(client, rounds)


def _figures(client: Any, rounds: int) -> list[Figure]:
    from prefect_secrets import Secret, get_many
    from prefect_secrets._sources.registry import source_of_kind
    from prefect_secrets._sources.remote import RemoteSource
    from prefect_secrets.sources import SourceConfig

    source = source_of_kind("aws", SourceConfig())
    assert isinstance(source, RemoteSource)
    bare: Callable[..., object] = client.get_secret_value
    name = NAMES[0]

    def first() -> float:
        source.invalidate()
        return _timed(lambda: Secret(name).get())

    def anchor() -> float:
        return _timed(lambda: bare(SecretId=PREFIX + name))

    # Warm both: imports, the clients, their connections.
    for _ in range(5):
        first(), anchor()
    samples = max(rounds, 3) * 10  # one call is ~ms and noisy: many short samples
    ours_first, boto_one = interleaved(first, anchor, samples)

    Secret(name).get()
    cached = statistics.median(
        median_per_call(lambda: Secret(name).get(), 20000) for _ in range(max(rounds, 3))
    )

    def many() -> float:
        source.invalidate()
        return _timed(lambda: get_many(NAMES))

    def twenty() -> float:
        return _timed(lambda: [bare(SecretId=PREFIX + each) for each in NAMES])

    ours_many, boto_many = interleaved(many, twenty, max(rounds, 3))
    return [
        Figure(
            "first AWS lookup, nothing cached / boto3 get_secret_value",
            ours_first * 1e3,
            boto_one * 1e3,
            "ms",
            ours_first / boto_one,
            "<= 1.2",
            ours_first / boto_one <= 1.2,
        ),
        Figure(
            "boto3 get_secret_value / cached AWS lookup",
            cached * 1e6,
            boto_one * 1e6,
            "us",
            boto_one / cached,
            ">= 1000",
            boto_one / cached >= 1000,
        ),
        Figure(
            f"{len(NAMES)} x boto3 get_secret_value / get_many({len(NAMES)} names) from AWS",
            ours_many * 1e3,
            boto_many * 1e3,
            "ms",
            boto_many / ours_many,
            ">= 5",
            boto_many / ours_many >= 5,
            note="one BatchGetSecretValue",
        ),
    ]
