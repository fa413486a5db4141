"""The command never loses a secret by accident, prints what users wrote as written, and
says one thing per outcome (README truths: issue "nine mismatches")."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import Secret
from tests.support.cli import assert_one_line_error, run_cli
from tests.test_cli import run_on_terminal


def test_delete_without_a_terminal_refuses_unless_yes(write_config: Callable[..., Path]) -> None:
    """`prefect-secrets delete NAME < /dev/null` must not delete silently."""
    write_config('[context.secrets]\nKEEP = "fake-keep"\n')
    refused = run_cli("delete", "KEEP")  # stdin is /dev/null, stdout a pipe
    assert_one_line_error(refused, 2)
    assert "--yes" in refused.stderr
    assert "nothing deleted" in refused.stderr
    assert Secret("KEEP").get() == "fake-keep"
    assert run_cli("delete", "KEEP", "--yes").code == 0
    assert not Secret("KEEP").exists()


def test_replacing_without_a_terminal_refuses_unless_yes(
    write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    """`set` over an existing secret overwrites it: the same rule as delete."""
    old, new = fake("old"), fake("new")
    write_config(f'[context.secrets]\nROTATE = "{old}"\n')
    refused = run_cli("set", "ROTATE", stdin=new + "\n")
    assert_one_line_error(refused, 2)
    assert "--yes" in refused.stderr
    assert new not in refused.output
    assert Secret("ROTATE").get() == old
    assert run_cli("set", "ROTATE", "--yes", stdin=new + "\n").code == 0
    assert Secret("ROTATE").get() == new
    # A new name replaces nothing: no confirmation needed.
    assert run_cli("set", "BRAND_NEW", stdin=new + "\n").code == 0


@pytest.fixture
def bracketed_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file whose path rich would read as markup: `[x]` and `[bold]`."""
    path = tmp_path / "team [x]" / "[bold]secrets" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[context.secrets]\nA = "fake-a"\n')
    path.chmod(0o600)
    monkeypatch.setenv("PREFECT_SECRETS_CONFIG", str(path))
    return path


def test_paths_and_tables_print_as_written(bracketed_config: Path) -> None:
    path = str(bracketed_config)
    assert path in run_cli("get", "A").stdout
    assert path in run_cli("which", "A").stdout
    assert path in run_cli("ls").stdout
    written = run_cli("set", "B", "--value", "fake-b")
    assert f"[context.secrets] of {path}" in written.stdout, written
    deleted = run_cli("delete", "B", "--yes")
    assert f"[context.secrets] of {path}" in deleted.stdout, deleted


def test_the_delete_prompt_shows_the_table_and_path(bracketed_config: Path) -> None:
    code, seen = run_on_terminal(["delete", "A"], [(b"[y/n]", b"n")])
    assert code == 2, seen
    screen = seen.decode().replace("\r\n", "").replace("\n", "")
    assert f"Delete secret 'A' from [context.secrets] of {bracketed_config}?" in screen


def test_get_shows_the_scope(write_config: Callable[..., Path]) -> None:
    write_config('[project.etl.secrets]\nDB = "fake-db"\n')
    result = run_cli("get", "DB", "--project", "etl")
    assert result.code == 0, result
    assert "scope: project=etl" in result.stdout
    assert json.loads(run_cli("get", "DB", "--project", "etl", "--json").stdout)["scope"] == (
        "project=etl"
    )


def test_set_warns_about_the_winner_of_the_scope_written(
    write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    """The warning comes from the lookup in the scope being written, not the org-wide one."""
    write_config(
        '[context.secrets]\nDB = "fake-org"\n'
        '[project.etl.domain.prod.secrets]\nDB = "fake-scoped"\n'
    )
    result = run_cli(
        "set", "DB", "--store", "file", "--project", "etl", "--value", fake("etl"), "--yes"
    )
    assert result.code == 0, result
    assert "[project.etl.domain.prod.secrets] DB" not in result.stderr  # not in that lookup
    result = run_cli(
        "set", "ONLY_SCOPED", "--project", "etl", "--domain", "prod", "--value", fake("x")
    )
    assert "Warning" not in result.stderr  # nothing above it
    write_config('[project.etl.domain.prod.secrets]\nSCOPED_ONLY = "fake-scoped"\n')
    os.environ["PREFECT__CONTEXT__SECRETS__SCOPED_ONLY"] = "fake-env"
    try:
        result = run_cli(
            "set",
            "SCOPED_ONLY",
            "--project",
            "etl",
            "--domain",
            "prod",
            "--value",
            fake("y"),
            "--yes",
        )
    finally:
        del os.environ["PREFECT__CONTEXT__SECRETS__SCOPED_ONLY"]
    assert "lookups of 'SCOPED_ONLY' in project=etl,domain=prod find env var" in result.stderr


def test_a_failed_listing_does_not_also_claim_an_empty_one(
    write_config: Callable[..., Path],
) -> None:
    write_config('[context.secrets]\n"bad name" = "fake-x"\n')
    result = run_cli("ls")
    assert_one_line_error(result, 4)
    assert "No secrets found" not in result.output


def test_writing_through_a_symlink_warns_once(tmp_path: Path, default_config_path: Path) -> None:
    real = tmp_path / "dotfiles" / "secrets.toml"
    real.parent.mkdir()
    real.write_text('[context.secrets]\nA = "fake-a"\n')
    real.chmod(0o644)
    default_config_path.parent.mkdir(parents=True)
    default_config_path.symlink_to(real)
    result = run_cli("set", "B", "--value", "fake-b")
    assert result.code == 0, result
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1, result.stderr
    assert "chmod 600" in warnings[0]  # chmod follows the link to the file it names
