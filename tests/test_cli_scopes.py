"""The command's --project/--domain/--org flags, against real files and a real server."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, run_cli
from tests.support.servers import PrefectServer


def stored(path: Path) -> dict[str, object]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def test_set_writes_the_table_of_its_scope(
    default_config_path: Path, fake: Callable[[str], str]
) -> None:
    org, etl, both = fake("org"), fake("etl"), fake("both")
    assert run_cli("set", "DB", "--value", org).code == 0
    assert run_cli("set", "DB", "--project", "etl", "--value", etl).code == 0
    result = run_cli("set", "DB", "--project", "etl", "--domain", "prod", "--value", both)
    assert result.code == 0
    assert "[project.etl.domain.prod.secrets]" in result.stdout
    assert both not in result.output
    data = stored(default_config_path)
    assert data["context"] == {"secrets": {"DB": org}}
    assert data["project"] == {
        "etl": {"secrets": {"DB": etl}, "domain": {"prod": {"secrets": {"DB": both}}}}
    }
    # get searches the scopes as lookups do
    assert (
        run_cli("get", "DB", "--project", "etl", "--domain", "prod", "--reveal").stdout
        == both + "\n"
    )
    assert (
        run_cli("get", "DB", "--project", "etl", "--domain", "dev", "--reveal").stdout == etl + "\n"
    )
    assert run_cli("get", "DB", "--project", "web", "--reveal").stdout == org + "\n"


def test_the_scope_settings_are_the_default_and_org_overrides_them(
    default_config_path: Path, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    scoped, org = fake("scoped"), fake("org")
    monkeypatch.setenv("PREFECT_SECRETS_PROJECT", "etl")
    assert run_cli("set", "TOKEN", "--value", scoped).code == 0
    assert run_cli("set", "TOKEN", "--org", "--value", org).code == 0
    data = stored(default_config_path)
    assert data["project"] == {"etl": {"secrets": {"TOKEN": scoped}}}
    assert data["context"] == {"secrets": {"TOKEN": org}}
    assert run_cli("get", "TOKEN", "--reveal").stdout == scoped + "\n"
    assert run_cli("get", "TOKEN", "--org", "--reveal").stdout == org + "\n"
    assert_one_line_error(run_cli("get", "TOKEN", "--org", "--project", "etl"), 2)


def test_which_shows_every_scope_in_order(
    write_config: Callable[..., Path],
) -> None:
    write_config('[context.secrets]\nDB = "fake-org"\n[domain.prod.secrets]\nDB = "fake-prod"\n')
    result = run_cli("which", "DB", "--project", "etl", "--domain", "prod", "--json")
    assert result.code == 0
    places = [(p["scope"], p["status"]) for p in json.loads(result.stdout) if p["source"] == "file"]
    assert places == [
        ("project=etl,domain=prod", "absent"),
        ("project=etl", "absent"),
        ("domain=prod", "found"),
        ("org", "shadowed"),
    ]
    assert "fake-" not in result.output


def test_ls_shows_scopes_and_filters_to_what_a_scope_sees(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_config(
        '[context.secrets]\nDB = "fake-org"\nSHARED = "fake-shared"\n'
        '[project.etl.secrets]\nDB = "fake-etl"\n'
        '[project.web.secrets]\nDB = "fake-web"\n'
    )
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "SHARED").write_text("fake-mounted\n")
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", str(mounted))
    everything = json.loads(run_cli("ls", "--json").stdout)
    assert {(r["name"], r["scope"], r["source"], r["shadowed"]) for r in everything} == {
        ("DB", "org", "file", False),
        ("DB", "project=etl", "file", False),
        ("DB", "project=web", "file", False),
        ("SHARED", "any", "mounted", False),
        ("SHARED", "org", "file", True),
    }
    etl_view = json.loads(run_cli("ls", "--project", "etl", "--json").stdout)
    assert [(r["name"], r["scope"], r["shadowed"]) for r in etl_view] == [
        ("DB", "project=etl", False),
        ("DB", "org", True),
        ("SHARED", "any", False),
        ("SHARED", "org", True),
    ]
    table = run_cli("ls", "--project", "etl")
    assert "Secrets (project=etl)" in table.stdout
    assert "fake-" not in table.output


def test_delete_removes_only_its_scope(
    write_config: Callable[..., Path], default_config_path: Path
) -> None:
    write_config('[context.secrets]\nDB = "fake-org"\n[project.etl.secrets]\nDB = "fake-etl"\n')
    assert run_cli("delete", "DB", "--project", "etl", "--yes").code == 0
    assert stored(default_config_path)["context"] == {"secrets": {"DB": "fake-org"}}
    etl = stored(default_config_path).get("project", {}).get("etl", {})
    assert not etl.get("secrets")
    assert_one_line_error(run_cli("delete", "DB", "--project", "etl", "--yes"), 3)


def test_invalid_scope_names_are_bad_usage() -> None:
    result = run_cli("set", "DB", "--project", "Not Valid", "--value", "fake-x")
    assert_one_line_error(result, 2)
    assert "invalid project 'Not Valid'" in result.stderr


def test_scoped_server_blocks(server: PrefectServer, fake: Callable[[str], str]) -> None:
    """Scoped blocks follow the documented name scheme and are Prefect's own Secret blocks."""
    from prefect.blocks.system import Secret as SecretBlock

    value = fake("scoped-server")
    env = {"PREFECT_API_URL": server.api_url}
    result = run_cli(
        "set",
        "CLI_SCOPED",
        "--server",
        "--project",
        "etl",
        "--domain",
        "prod",
        "--value",
        value,
        env=env,
    )
    assert result.code == 0, result
    assert "Secret block 'scope--etl--prod--cli-scoped'" in result.stdout
    assert SecretBlock.load("scope--etl--prod--cli-scoped").get() == value
    got = run_cli("get", "CLI_SCOPED", "--project", "etl", "--domain", "prod", "--json", env=env)
    assert json.loads(got.stdout)["scope"] == "project=etl,domain=prod"
    assert_one_line_error(run_cli("get", "CLI_SCOPED", env=env), 3)
    rows = json.loads(run_cli("ls", "--json", env=env).stdout)
    assert {"name": "cli-scoped", "scope": "project=etl,domain=prod"}.items() <= next(
        r for r in rows if r["name"] == "cli-scoped"
    ).items()
    deleted = run_cli(
        "delete",
        "CLI_SCOPED",
        "--server",
        "--project",
        "etl",
        "--domain",
        "prod",
        "--yes",
        env=env,
    )
    assert deleted.code == 0, deleted


def test_reserved_org_names_are_refused_for_the_server(server: PrefectServer) -> None:
    result = run_cli(
        "set", "SCOPE__X", "--server", "--value", "fake-x", env={"PREFECT_API_URL": server.api_url}
    )
    assert_one_line_error(result, 2)
    assert "reserved for scoped secrets" in result.stderr
