"""A third-party source, installed as a real distribution with an entry point, works
through the library and every command that reads or writes: get, ls, which, set, delete.

The example package is `tests/support/team_source` (a team's shared JSON file). It is
installed once per session with pip into a directory put on PYTHONPATH, so that its
entry point is found the way an installed package's is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import Secret, SettingsError
from tests.support.cli import Result, assert_one_line_error, run_cli

PACKAGE = Path(__file__).parent / "support" / "team_source"
ORDER = "context,env,team-file,file"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(PACKAGE),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert list(target.glob("team_secrets_example-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    return tmp_path / "team.json"


@pytest.fixture
def env(installed: Path, team_file: Path) -> dict[str, str]:
    return {
        "PYTHONPATH": str(installed),
        "PREFECT_SECRETS_SOURCES": ORDER,
        "TEAM_SECRETS_FILE": str(team_file),
    }


def cli(env: dict[str, str], *args: str) -> Result:
    return run_cli(*args, env=env)


def test_set_get_which_ls_delete_through_the_plugin(
    env: dict[str, str], team_file: Path, fake: Callable[[str], str]
) -> None:
    value = fake("team")
    written = cli(env, "set", "TEAM_TOKEN", "--store", "team-file", "--value", value)
    assert written.code == 0, written
    assert json.loads(team_file.read_text()) == {"TEAM_TOKEN": value}
    assert value not in written.output

    got = json.loads(cli(env, "get", "TEAM_TOKEN", "--json").stdout)
    assert (got["source"], got["location"]) == (
        "team-file",
        f"team file {team_file} key TEAM_TOKEN",
    )

    which = json.loads(cli(env, "which", "TEAM_TOKEN", "--json").stdout)
    assert [(p["source"], p["status"]) for p in which] == [
        ("context", "absent"),
        ("env", "absent"),
        ("team-file", "found"),
        ("file", "absent"),
    ]

    listed = json.loads(cli(env, "ls", "--json").stdout)
    assert [(r["name"], r["source"], r["shadowed"]) for r in listed] == [
        ("TEAM_TOKEN", "team-file", False)
    ]

    deleted = cli(env, "delete", "TEAM_TOKEN", "--store", "team-file", "--yes")
    assert deleted.code == 0, deleted
    assert json.loads(team_file.read_text()) == {}
    assert_one_line_error(cli(env, "get", "TEAM_TOKEN"), 3)


def test_the_plugin_sits_where_the_setting_puts_it(
    env: dict[str, str], team_file: Path, write_config: Callable[..., Path]
) -> None:
    """Env above the plug-in, the plug-in above the file; a lookup from Python alike."""
    team_file.write_text(json.dumps({"SHARED": "fake-team", "ONLY_TEAM": "fake-only-team"}))
    write_config('[context.secrets]\nSHARED = "fake-file"\n')
    code = (  # compared in the subprocess: a value printed there is masked, as it should be
        "from prefect_secrets import Secret\n"
        "print(Secret('SHARED').get() == 'fake-team', Secret('ONLY_TEAM').get() == "
        "'fake-only-team', Secret('SHARED').source())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [
        "True",
        "True",
        "team",
        "file",
        str(team_file),
        "key",
        "SHARED",
    ]
    shadowed = json.loads(cli(env, "ls", "--json").stdout)
    assert ("SHARED", "file", True) in [(r["name"], r["source"], r["shadowed"]) for r in shadowed]


def test_a_source_that_cannot_write_says_so(env: dict[str, str]) -> None:
    result = cli(env, "set", "X", "--store", "env", "--value", "fake-x")
    assert_one_line_error(result, 2)
    assert "source 'env' cannot store secrets" in result.stderr
    assert "fake-x" not in result.output


def test_an_unknown_kind_is_one_settings_error(env: dict[str, str]) -> None:
    result = cli({**env, "PREFECT_SECRETS_SOURCES": "context,env,nope"}, "get", "X")
    assert_one_line_error(result, 5)
    assert "sources (env PREFECT_SECRETS_SOURCES): unknown source kind 'nope'" in result.stderr
    assert "team-file" in result.stderr  # the installed plug-ins are listed as known


def test_a_plugin_that_fails_to_import_is_one_settings_error(env: dict[str, str]) -> None:
    result = cli({**env, "PREFECT_SECRETS_SOURCES": "env,broken"}, "get", "X")
    assert_one_line_error(result, 5)
    assert "source 'broken' (team_secrets.broken:BrokenSource) failed to import" in result.stderr
    assert "ModuleNotFoundError" in result.stderr


def test_sources_can_turn_a_builtin_off(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving `file` out of the setting in the file itself: the file is not read for secrets."""
    write_config('[settings]\nsources = ["context", "env"]\n[context.secrets]\nX = "fake-x"\n')
    assert not Secret("X").exists()
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", "file,env")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__X", "fake-env")
    assert Secret("X").get() == "fake-x"  # env var beats the file, and file now comes first


def test_a_bad_sources_setting_names_where_it_is(write_config: Callable[..., Path]) -> None:
    path = write_config('[settings]\nsources = ["env", "env"]\n')
    with pytest.raises(SettingsError, match=rf"{path}, line 2: \[settings\] sources .* twice"):
        Secret("X").get()
