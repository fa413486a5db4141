"""Scopes: project+domain, then project, then domain, then org-wide, in file and server."""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_secrets import Secret, SecretSourceError, get_many
from prefect_secrets._core.names import SCOPED_BLOCK_PREFIX, block_name, parse_block_name
from tests.support.servers import PrefectServer, counting_proxy

LAYERED = """
[context.secrets]
DB = "fake-org"
ONLY_ORG = "fake-only-org"

[project.etl.secrets]
DB = "fake-etl"

[domain.prod.secrets]
DB = "fake-prod"
ONLY_DOMAIN = "fake-only-domain"

[project.etl.domain.prod.secrets]
DB = "fake-etl-prod"
"""


@pytest.mark.parametrize(
    ("project", "domain", "expected"),
    [
        ("etl", "prod", "fake-etl-prod"),
        ("etl", "dev", "fake-etl"),
        ("web", "prod", "fake-prod"),
        ("web", "dev", "fake-org"),
        (None, None, "fake-org"),
        ("etl", None, "fake-etl"),
        (None, "prod", "fake-prod"),
    ],
)
def test_the_most_specific_scope_in_the_file_wins(
    write_config: Callable[..., Path], project: str | None, domain: str | None, expected: str
) -> None:
    write_config(LAYERED)
    assert Secret("DB", project=project, domain=domain).get() == expected


def test_fall_through_is_per_secret(write_config: Callable[..., Path]) -> None:
    """A scope without the secret passes the lookup down; one with it stops it."""
    write_config(LAYERED)
    assert Secret("ONLY_ORG", project="etl", domain="prod").get() == "fake-only-org"
    assert Secret("ONLY_DOMAIN", project="etl", domain="prod").get() == "fake-only-domain"


def test_defaults_come_from_settings(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[settings]\nproject = "etl"\n' + LAYERED)
    assert Secret("DB").get() == "fake-etl"
    monkeypatch.setenv("PREFECT_SECRETS_DOMAIN", "prod")
    assert Secret("DB").get() == "fake-etl-prod"
    monkeypatch.setenv("PREFECT_SECRETS_PROJECT", "web")  # env beats the file
    assert Secret("DB").get() == "fake-prod"
    assert Secret("DB", project="etl", domain="dev").get() == "fake-etl"  # explicit beats both


def test_unscoped_sources_answer_for_every_scope(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    """Env vars and the context are per process: a deployment's env is its scope."""
    write_config(LAYERED)
    value = fake("env")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__DB", value)
    assert Secret("DB", project="etl", domain="prod").get() == value


def test_a_failing_source_stops_the_scope_chain(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never fall through on an error: the file is broken, so nothing below it is used."""
    write_config("[project.etl.secrets\n")
    with pytest.raises(SecretSourceError, match="not valid TOML"):
        Secret("DB", project="etl").get()


def test_not_found_lists_every_scope_searched(write_config: Callable[..., Path]) -> None:
    write_config(LAYERED)
    with pytest.raises(KeyError) as caught:
        Secret("NOWHERE", project="etl", domain="prod").get()
    message = str(caught.value)
    tables = [
        "[project.etl.domain.prod.secrets] NOWHERE",
        "[project.etl.secrets] NOWHERE",
        "[domain.prod.secrets] NOWHERE",
        "[context.secrets] NOWHERE",
    ]
    positions = [message.index(table) for table in tables]
    assert positions == sorted(positions)


def test_explain_shows_scopes_and_shadowing(write_config: Callable[..., Path]) -> None:
    write_config(LAYERED)
    places = [p for p in Secret("DB", project="etl", domain="prod").explain() if p.source == "file"]
    assert [(p.scope, p.status) for p in places] == [
        ("project=etl,domain=prod", "found"),
        ("project=etl", "shadowed"),
        ("domain=prod", "shadowed"),
        ("org", "shadowed"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project": "ETL"}, "invalid project 'ETL'"),
        ({"project": "a--b"}, "invalid project"),
        ({"domain": "-prod"}, "invalid domain"),
        ({"domain": "x" * 64}, "invalid domain"),
        ({"project": ""}, "invalid project ''"),
    ],
)
def test_invalid_scope_names_state_the_rule(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Secret("DB", **kwargs)
    assert "lowercase letters and digits, with single '-' inside" in str(caught.value)


@pytest.mark.parametrize(
    ("layout", "fault"),
    [
        ('[project.ETL.secrets]\nDB = "fake"\n', "line 1: invalid project 'ETL'"),
        ('[contex.secrets]\nDB = "fake"\n', "line 1: unknown table 'contex'"),
        ('[project.etl]\nsecret = "fake"\n', "line 2: unknown key 'secret' in [project.etl]"),
        ('[project.etl]\nsecrets = "fake"\n', "line 2: 'project.etl.secrets' must be a table"),
        ('[domain.prod.secrets]\n"bad name" = "fake"\n', "line 2: invalid secret name 'bad name'"),
    ],
)
def test_layout_errors_name_the_line(
    write_config: Callable[..., Path], layout: str, fault: str
) -> None:
    path = write_config(layout)
    with pytest.raises(SecretSourceError) as caught:
        Secret("DB", project="etl", domain="prod").get()
    assert str(path) in str(caught.value)
    assert fault in str(caught.value)
    assert "fake" not in str(caught.value).replace(str(path), "")


scope_names = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}", fullmatch=True)
secret_names = st.text(
    alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=40
)


@given(secret_names, st.none() | scope_names, st.none() | scope_names)
def test_block_names_parse_back(name: str, project: str | None, domain: str | None) -> None:
    """The scheme is collision-free: the block name gives back exactly its scope and name."""
    block = block_name(name, project, domain)
    assert set(block) <= set(string.ascii_lowercase + string.digits + "-")
    if project is None and domain is None and block.startswith(SCOPED_BLOCK_PREFIX):
        return  # reserved: such org-wide names are never stored on the server
    assert parse_block_name(block) == (block_name(name), project, domain)


@given(
    st.tuples(secret_names, st.none() | scope_names, st.none() | scope_names),
    st.tuples(secret_names, st.none() | scope_names, st.none() | scope_names),
)
def test_different_scopes_never_share_a_block(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    block_a, block_b = block_name(*a), block_name(*b)
    if block_a == block_b:
        assert (block_name(a[0]), a[1], a[2]) == (block_name(b[0]), b[1], b[2])


def test_server_scopes_in_order_with_one_request(
    server: PrefectServer, save_block: Callable[[str, Any], None], fake: Callable[[str], str]
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    etl, org = fake("etl"), fake("org")
    save_block(block_name("SCOPED_DB", "etl"), etl)
    save_block(block_name("SCOPED_DB"), org)
    assert block_name("SCOPED_DB", "etl") == "scope--etl----scoped-db"
    origin = server.origin
    with (
        counting_proxy(origin) as proxy,
        temporary_settings(updates={PREFECT_API_URL: proxy.url + "/api"}),
    ):
        assert Secret("SCOPED_DB", project="etl", domain="prod").get() == etl
        assert proxy.total() == 1, "the whole scope chain is one filter request"
        assert Secret("SCOPED_DB", project="web", domain="prod").get() == org
        assert Secret("SCOPED_DB").get() == org


def test_reserved_org_names_never_reach_the_server(
    server: PrefectServer, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    """An org-wide secret named like a scoped block would be ambiguous on the server."""
    with pytest.raises(KeyError, match="reserved for scoped secrets"):
        Secret("SCOPE__X").get()
    value = fake("env")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__SCOPE__X", value)
    assert Secret("SCOPE__X").get() == value


def test_get_many_with_a_scope(
    write_config: Callable[..., Path],
    server: PrefectServer,
    save_block: Callable[[str, Any], None],
    fake: Callable[[str], str],
) -> None:
    write_config(LAYERED)
    on_server = fake("server-etl")
    save_block(block_name("MANY_SCOPED", "etl", "prod"), on_server)
    found = get_many(["DB", "ONLY_ORG", "MANY_SCOPED"], project="etl", domain="prod")
    assert found == {"DB": "fake-etl-prod", "ONLY_ORG": "fake-only-org", "MANY_SCOPED": on_server}
