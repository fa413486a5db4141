"""pytest fixtures for the AWS and block sources' tests: moto started once per session.

Used by test modules with `pytest_plugins = ["tests.support.aws_fixtures"]`:

    def test_x(aws: MotoServer) -> None:        # empty moto; AWS_* point at it; sources = aws
        aws.client().create_secret(Name="prefect/X", SecretString="fake-x")
        assert Secret("X").get() == "fake-x"

`moto_iam` is a second moto that enforces IAM (started on first use), for real denials.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets._sources.remote import RemoteSource
from prefect_secrets.sources import SourceConfig
from tests.support.aws import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's standalone server behind its fault-injecting, counting proxy."""
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_iam() -> Iterator[MotoServer]:
    """A moto that enforces IAM: `iam_user(...)` makes identities it really denies."""
    with MotoServer(iam=True) as server:
        yield server


def _point(server: MotoServer, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """This process's AWS configuration: `server`'s env (or `env`) and nothing of the machine's."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in {**server.env(), **env}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def point_at(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """`point_at(server, **env)`: AWS_* of this test point at `server`, with `env` on top
    (an IAM user's keys: `point_at(moto_iam, **moto_iam.iam_user("fake-reader"))`)."""
    return lambda server, **env: _point(server, monkeypatch, **env)


def forget_answers() -> None:
    """Drop what the process's aws and block sources cached (the registry keeps one each)."""
    for kind in ("aws", "block"):
        source = source_of_kind(kind, SourceConfig())
        if isinstance(source, RemoteSource):
            source.invalidate()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """An empty moto, with AWS_* pointing at it, lookups asking only AWS, nothing cached."""
    moto_server.accept()  # a test before may have left it refusing
    moto_server.reset()
    _point(moto_server, monkeypatch)
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "aws")
    forget_answers()
    yield moto_server
    moto_server.clear_faults()
    moto_server.accept()
    forget_answers()


@pytest.fixture
def aws_iam(moto_iam: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """`aws`, on the moto that enforces IAM (as its admin user until a test says otherwise)."""
    moto_iam.reset()
    _point(moto_iam, monkeypatch)
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "aws")
    forget_answers()
    yield moto_iam
    forget_answers()
