"""The `prefect-secrets` command with local sources, run as users run it: the console
script in a subprocess, against real files and real env vars.

Every test that handles a value checks that it never shows up where it must not.
"""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import Secret
from tests.support.cli import SCRIPT, assert_one_line_error, run_cli
from tests.support.files import mode_of


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.exists(), "pip install -e . creates it; see [project.scripts]"


def test_help_lists_the_commands_and_the_exit_codes() -> None:
    result = run_cli("--help")
    assert result.code == 0
    for command in ("set", "get", "ls", "delete", "which", "doctor", "import-prefect1"):
        assert command in result.stdout
    for code in ("0: success", "2: bad usage", "3: not found", "4: a source failed"):
        assert code in result.stdout
    assert "--debug" in result.stdout


def test_python_dash_m_runs_the_same_command() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "prefect_secrets", "--version"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert process.returncode == 0
    from prefect_secrets import __version__

    assert process.stdout.strip() == __version__


def test_set_from_stdin_creates_a_private_file_that_lookups_read(
    default_config_path: Path, fake: Callable[[str], str]
) -> None:
    value = fake("warehouse")
    result = run_cli("set", "WAREHOUSE_PASSWORD", stdin=value + "\n")
    assert result.code == 0, result
    assert value not in result.output
    assert "WAREHOUSE_PASSWORD" in result.stdout
    assert str(default_config_path) in result.stdout
    assert mode_of(default_config_path) == 0o600
    assert mode_of(default_config_path.parent) == 0o700
    # The trailing newline of `echo value |` is not part of the value.
    assert Secret("WAREHOUSE_PASSWORD").get() == value


def test_set_keeps_inner_newlines_and_removes_only_one_trailing_one(
    fake: Callable[[str], str],
) -> None:
    value = f"-----BEGIN FAKE KEY-----\n{fake('pem')}\n-----END FAKE KEY-----\n"
    assert run_cli("set", "PEM", stdin=value + "\n").code == 0
    assert Secret("PEM").get() == value


def test_set_with_value_and_replace(fake: Callable[[str], str]) -> None:
    first, second = fake("first"), fake("second")
    created = run_cli("set", "API_KEY", "--value", first)
    assert created.code == 0
    assert created.stdout.startswith("Saved secret 'API_KEY'")
    replaced = run_cli("set", "API_KEY", "--value", second, "--yes")
    assert replaced.code == 0
    assert replaced.stdout.startswith("Replaced secret 'API_KEY'")
    assert first not in replaced.output
    assert second not in replaced.output
    assert Secret("API_KEY").get() == second


def test_set_json_stores_a_table(default_config_path: Path, fake: Callable[[str], str]) -> None:
    password = fake("snowflake")
    document = json.dumps({"user": "etl", "password": password, "port": 443, "tags": ["a"]})
    result = run_cli("set", "SNOWFLAKE", "--json", "--value", document)
    assert result.code == 0, result
    assert password not in result.output
    assert Secret("SNOWFLAKE").get() == {
        "user": "etl",
        "password": password,
        "port": 443,
        "tags": ["a"],
    }
    # One secret, one line: an inline table in [context.secrets].
    assert f'SNOWFLAKE = {{user = "etl", password = "{password}"' in (
        default_config_path.read_text()
    )


def test_set_json_refuses_invalid_json_without_echoing_it(
    default_config_path: Path, fake: Callable[[str], str]
) -> None:
    value = "{" + fake("broken")
    result = run_cli("set", "X", "--json", "--value", value)
    assert_one_line_error(result, 2)
    assert "not valid JSON" in result.stderr
    assert "line 1, column 2" in result.stderr
    assert value not in result.output
    assert not default_config_path.exists()


def test_set_json_refuses_null_which_toml_cannot_hold(default_config_path: Path) -> None:
    result = run_cli("set", "X", "--json", "--value", '{"a": null}')
    assert_one_line_error(result, 2)
    assert "null" in result.stderr
    assert not default_config_path.exists()


def test_a_value_typed_as_an_argument_is_refused_and_not_echoed(
    default_config_path: Path, fake: Callable[[str], str]
) -> None:
    value = fake("positional")
    result = run_cli("set", "X", value)
    assert_one_line_error(result, 2)
    assert value not in result.output
    assert "--value" in result.stderr
    assert not default_config_path.exists()


def test_a_value_given_to_a_flag_is_not_echoed(fake: Callable[[str], str]) -> None:
    value = fake("flag")
    result = run_cli("set", "X", f"--server={value}")
    assert_one_line_error(result, 2)
    assert value not in result.output


def test_an_empty_value_is_refused(default_config_path: Path) -> None:
    result = run_cli("set", "X", stdin="")
    assert_one_line_error(result, 2)
    assert "empty" in result.stderr
    assert not default_config_path.exists()


def test_an_invalid_name_is_bad_usage() -> None:
    result = run_cli("set", "bad name", "--value", "fake-v")
    assert_one_line_error(result, 2)
    assert "letters, digits" in result.stderr


def test_unknown_commands_and_options_are_one_line_bad_usage() -> None:
    assert_one_line_error(run_cli("bogus"), 2)
    result = run_cli("get", "X", "--nope")
    assert_one_line_error(result, 2)
    assert "--nope" in result.stderr


def run_on_terminal(args: list[str], answers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """Run the command on a pseudo-terminal; for each (prompt, answer), wait for the prompt
    and type the answer. Returns the exit code and everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on a terminal
        os.execve(str(SCRIPT), [str(SCRIPT), *args], dict(os.environ))
    seen = b""
    try:
        for prompt, answer in answers:
            seen += _read_until(fd, prompt)
            assert prompt in seen, seen
            os.write(fd, answer + b"\r")
        seen += _read_until(fd, b"\0", timeout=10)  # everything, until the command exits
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the command exited and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_the_hidden_prompt_does_not_echo_the_value(fake: Callable[[str], str]) -> None:
    """On a terminal, `set NAME` asks without echoing, so the value is in no history."""
    value = fake("typed")
    code, seen = run_on_terminal(
        ["set", "TYPED"], [(b"Value of secret 'TYPED' (input hidden): ", value.encode())]
    )
    assert code == 0, seen
    assert b"Saved secret 'TYPED'" in seen
    assert value.encode() not in seen
    assert Secret("TYPED").get() == value


def test_delete_asks_on_a_terminal(write_config: Callable[..., Path]) -> None:
    path = write_config('[context.secrets]\nA = "fake-a"\n')
    code, seen = run_on_terminal(["delete", "A"], [(b"[y/n]", b"n")])
    assert code == 2, seen
    assert b"nothing deleted" in seen
    assert Secret("A").exists()
    code, seen = run_on_terminal(["delete", "A"], [(b"[y/n]", b"y")])
    assert code == 0, seen
    assert not Secret("A").exists()
    assert path.exists()


def test_get_is_masked_and_says_where_and_what(
    write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    value = fake("masked")
    path = write_config(f'[context.secrets]\nDB = "{value}"\nPORT = "5432"\n')
    result = run_cli("get", "DB")
    assert result.code == 0, result
    assert value not in result.output
    assert "DB: ******** (string)" in result.stdout
    assert f"file {path} [context.secrets] DB" in result.stdout
    port = run_cli("get", "PORT")
    assert "(integer)" in port.stdout  # what Secret("PORT").get() returns


def test_get_reveal_prints_exactly_the_value(
    write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    value = fake("revealed") + " [bold]not markup[/bold] $HOME"
    write_config(
        f'[context.secrets]\nPLAIN = {json.dumps(value)}\nTABLE = {{ user = "etl", port = 5 }}\n'
    )
    assert run_cli("get", "PLAIN", "--reveal").stdout == value + "\n"
    assert json.loads(run_cli("get", "TABLE", "--reveal").stdout) == {"user": "etl", "port": 5}


def test_get_json_for_scripts(monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]) -> None:
    value = fake("env")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__TOKEN", value)
    masked = run_cli("get", "TOKEN", "--json")
    assert masked.code == 0
    assert value not in masked.output
    assert json.loads(masked.stdout) == {
        "name": "TOKEN",
        "found": True,
        "source": "env",
        "location": "env var PREFECT__CONTEXT__SECRETS__TOKEN",
        "scope": "any",
        "type": "string",
    }
    revealed = json.loads(run_cli("get", "TOKEN", "--json", "--reveal").stdout)
    assert revealed["value"] == value


def test_get_of_a_missing_secret_exits_3_naming_every_place(default_config_path: Path) -> None:
    result = run_cli("get", "NOWHERE")
    assert_one_line_error(result, 3)
    assert "PREFECT__CONTEXT__SECRETS__NOWHERE" in result.stderr
    assert str(default_config_path) in result.stderr


def test_a_bad_setting_exits_5_naming_it() -> None:
    result = run_cli("get", "X", env={"PREFECT_SECRETS_TIMEOUT": "soon"})
    assert_one_line_error(result, 5)
    assert "PREFECT_SECRETS_TIMEOUT" in result.stderr


def test_ls_lists_names_and_sources_never_values(
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    values = [fake("file-a"), fake("file-b"), fake("env-b"), fake("p1")]
    write_config(f'[context.secrets]\nA = "{values[0]}"\nB = "{values[1]}"\n')
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__B", values[2])
    home = Path(os.environ["HOME"])
    write_config(
        f'[context.secrets]\nOLD = "{values[3]}"\n', path=home / ".prefect" / "config.toml"
    )

    table = run_cli("ls")
    assert table.code == 0, table
    for value in values:
        assert value not in table.output
    assert "Prefect server not listed" in table.stderr  # no PREFECT_API_URL here

    rows = json.loads(run_cli("ls", "--json").stdout)
    assert [(r["name"], r["source"], r["shadowed"]) for r in rows] == [
        ("A", "file", False),
        ("B", "env", False),
        ("B", "file", True),
        ("OLD", "prefect1-file", False),
    ]
    cells = [line.split("│")[1:-1] for line in table.stdout.splitlines() if line.startswith("│")]
    statuses = {(row[0].strip(), row[2].strip()): row[4].strip() for row in cells}
    assert statuses[("B", "env")] == "in force"
    assert statuses[("B", "file")] == "shadowed"


def test_ls_with_nothing_anywhere() -> None:
    result = run_cli("ls")
    assert result.code == 0
    assert "No secrets found." in result.stdout
    assert json.loads(run_cli("ls", "--json").stdout) == []


def test_delete_removes_only_that_secret(
    write_config: Callable[..., Path], fake: Callable[[str], str]
) -> None:
    keep, drop = fake("keep"), fake("drop")
    text = (
        "# my secrets\n"
        "[settings]\n"
        'server = "never"   # no server here\n'
        "\n"
        "[context.secrets]\n"
        f'KEEP = "{keep}"  # still needed\n'
        f'DROP = "{drop}"\n'
    )
    path = write_config(text)
    result = run_cli("delete", "DROP", "--yes")
    assert result.code == 0, result
    assert drop not in result.output
    assert path.read_text() == text.replace(f'DROP = "{drop}"\n', "")
    assert mode_of(path) == 0o600
    again = run_cli("delete", "DROP")
    assert_one_line_error(again, 3)
    assert not Secret("DROP").exists()
    assert Secret("KEEP").get() == keep


def test_delete_when_there_is_no_file_is_not_found(default_config_path: Path) -> None:
    assert_one_line_error(run_cli("delete", "X"), 3)
    assert not default_config_path.exists()


def test_delete_says_when_the_name_is_still_set_elsewhere(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[context.secrets]\nX = "fake-file"\n')
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__X", "fake-env-x")
    result = run_cli("delete", "X", "--yes")
    assert result.code == 0
    assert "still set in env var PREFECT__CONTEXT__SECRETS__X" in result.stderr
    assert "fake-env-x" not in result.output


def test_set_warns_when_an_env_var_shadows_the_file(
    monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__X", fake("env"))
    result = run_cli("set", "X", "--value", fake("file"))
    assert result.code == 0
    assert "env var PREFECT__CONTEXT__SECRETS__X first" in result.stderr


def test_which_shows_every_place_in_order_and_never_a_value(
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    fake: Callable[[str], str],
) -> None:
    env_value, file_value = fake("env"), fake("file")
    path = write_config(f'[context.secrets]\nX = "{file_value}"\n')
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__X", env_value)
    result = run_cli("which", "X")
    assert result.code == 0, result
    assert env_value not in result.output
    assert file_value not in result.output
    assert "X comes from env var PREFECT__CONTEXT__SECRETS__X; 1 shadowed place." in result.stdout

    places = json.loads(run_cli("which", "X", "--json").stdout)
    assert [place["order"] for place in places] == list(range(1, len(places) + 1))
    # In resolution order (other sources, e.g. mounted files, may sit in between).
    statuses = [(p["source"], p["status"]) for p in places if p["source"] in KNOWN_SOURCES]
    assert statuses == [
        ("context", "absent"),
        ("env", "found"),
        ("file", "shadowed"),
        ("tokens", "absent"),
        ("prefect1-file", "absent"),
        ("server", "not asked"),
    ]
    by_source = {place["source"]: place for place in places}
    assert by_source["file"]["location"] == f"file {path} [context.secrets] X"


KNOWN_SOURCES = ("context", "env", "file", "tokens", "prefect1-file", "server")


def test_which_exit_codes_not_found_and_failed_source(write_config: Callable[..., Path]) -> None:
    assert run_cli("which", "NOWHERE").code == 3
    write_config("[context.secrets]\nX = \n")
    failed = run_cli("which", "X")
    assert failed.code == 4
    assert "line 2" in failed.stdout


def test_a_malformed_file_fails_lookups_with_its_line(write_config: Callable[..., Path]) -> None:
    path = write_config('[context.secrets]\nA = "fake-a"\nB = = 1\n')
    result = run_cli("get", "A")
    assert_one_line_error(result, 4)
    assert str(path) in result.stderr
    assert "line 3, column 5" in result.stderr


def test_doctor_on_a_healthy_setup(write_config: Callable[..., Path]) -> None:
    path = write_config('[settings]\ntimeout = 2.5\n[context.secrets]\nX = "fake-x"\n')
    result = run_cli("doctor")
    assert result.code == 0, result
    assert str(path) in result.stdout
    assert "private (mode 0600)" in result.stdout
    assert f"timeout = 2.5 ({path}, line 2)" in result.stdout
    assert "server = 'auto' (default)" in result.stdout
    assert "not asked by lookups" in result.stdout
    assert "Nothing to fix" in result.stdout
    assert "fake-x" not in result.output


def test_doctor_names_the_fix_for_a_shared_file(write_config: Callable[..., Path]) -> None:
    path = write_config('[context.secrets]\nX = "fake-x"\n', mode=0o644)
    warned = run_cli("doctor")
    assert warned.code == 0  # a warning, unless strict_permissions is on
    assert f"fix: chmod 600 {path}" in warned.stdout
    strict = run_cli("doctor", env={"PREFECT_SECRETS_STRICT_PERMISSIONS": "true"})
    assert strict.code == 4
    assert "1 problem to fix." in strict.stdout


def test_doctor_reports_a_malformed_file_and_a_bad_setting(
    write_config: Callable[..., Path],
) -> None:
    write_config('[context.secrets]\nX = "fake-one" "fake-two"\n')
    broken = run_cli("doctor")
    assert broken.code == 4
    assert "line 2, column 16" in broken.stdout
    assert "fake-one" not in broken.output
    write_config('[settings]\nretries = "many"\n')
    bad_setting = run_cli("doctor")
    assert bad_setting.code == 5
    assert "line 2: [settings] retries" in bad_setting.stdout


def test_unexpected_errors_are_one_line_unless_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last line of defence, run in-process: a bug in a source must not print
    a traceback (nor its message, which may quote data) unless --debug asks."""
    from prefect_secrets._cli import app, secrets

    def broken(*args: object) -> object:
        raise RuntimeError("fake-data-in-a-message")

    monkeypatch.setattr(secrets, "resolve", broken)
    assert app.main(["get", "X"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "Error: unexpected RuntimeError; run again with --debug to see the traceback"
    )
    assert "fake-data" not in captured.out + captured.err
    assert app.main(["--debug", "get", "X"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_piped_output_is_not_wrapped(write_config: Callable[..., Path], tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6) / "config.toml"
    write_config('[context.secrets]\nX = "fake-x"\n', path=deep)
    result = run_cli("ls", env={"PREFECT_SECRETS_CONFIG": str(deep)})
    assert f"file {deep} [context.secrets]" in result.stdout


# ---------------------------------------------------------------------------
# import-prefect1


@pytest.fixture
def prefect1_file(write_config: Callable[..., Path], home: Path) -> Path:
    return write_config(
        "[context.secrets]\n"
        'P1_TOKEN = "fake-p1-token"\n'
        'SHARED = "fake-p1-shared"\n'
        'P1_TABLE = { user = "etl", password = "fake-p1-pw" }\n',
        path=home / ".prefect" / "config.toml",
    )


def test_import_prefect1_is_a_dry_run_by_default(
    prefect1_file: Path, default_config_path: Path
) -> None:
    result = run_cli("import-prefect1")
    assert result.code == 0, result
    assert "would copy" in result.stdout
    assert "--apply" in result.stdout
    assert "fake-p1" not in result.output
    assert not default_config_path.exists()


def test_import_prefect1_apply_copies_and_keeps_existing(
    prefect1_file: Path, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[context.secrets]\nSHARED = "fake-new-shared"\n')
    result = run_cli("import-prefect1", "--apply")
    assert result.code == 0, result
    assert "fake-" not in result.output
    assert "skipped: exists (--overwrite)" in result.stdout
    # Turn the Prefect 1 file off to see what was copied into ours.
    monkeypatch.setenv("PREFECT_SECRETS_PREFECT1_CONFIG", "")
    assert Secret("P1_TOKEN").get() == "fake-p1-token"
    assert Secret("P1_TABLE").get() == {"user": "etl", "password": "fake-p1-pw"}
    assert Secret("SHARED").get() == "fake-new-shared"
    assert run_cli("import-prefect1", str(prefect1_file), "--apply", "--overwrite").code == 0
    assert Secret("SHARED").get() == "fake-p1-shared"


def test_import_prefect1_from_a_missing_file_is_not_found(tmp_path: Path) -> None:
    result = run_cli("import-prefect1", str(tmp_path / "nope.toml"))
    assert_one_line_error(result, 3)


# ---------------------------------------------------------------------------
# The file writer, through the command


LAYOUT = """\
# prefect-secrets config, edited by hand
[settings]
server = "never"    # offline laptop
timeout = 2.0

# --- secrets ---
[context.secrets]
# the warehouse
WAREHOUSE = "fake-warehouse"   # rotated monthly
'quoted-key' = 'fake-literal'

[context.secrets.NESTED]
user = "etl"
ports = [1, 2, 3]   # after the table we add to
"""


def test_set_keeps_comments_layout_and_other_tables(write_config: Callable[..., Path]) -> None:
    path = write_config(LAYOUT)
    assert run_cli("set", "NEW_ONE", "--value", "fake-new").code == 0
    assert run_cli("set", "WAREHOUSE", "--value", "fake-rotated", "--yes").code == 0
    expected = LAYOUT.replace(
        "WAREHOUSE = \"fake-warehouse\"   # rotated monthly\n'quoted-key' = 'fake-literal'\n",
        "WAREHOUSE = \"fake-rotated\"   # rotated monthly\n'quoted-key' = 'fake-literal'\n"
        'NEW_ONE = "fake-new"\n',
    )
    assert path.read_text() == expected
    assert mode_of(path) == 0o600


def test_an_existing_file_keeps_its_mode_and_gets_a_warning(
    write_config: Callable[..., Path],
) -> None:
    path = write_config('[context.secrets]\nA = "fake-a"\n', mode=0o640)
    result = run_cli("set", "B", "--value", "fake-b")
    assert result.code == 0
    assert mode_of(path) == 0o640
    assert f"chmod 600 {path}" in result.stderr


def test_a_symlinked_config_file_is_updated_where_it_points(
    tmp_path: Path, write_config: Callable[..., Path], default_config_path: Path
) -> None:
    target = write_config(
        '[context.secrets]\nA = "fake-a"\n', path=tmp_path / "dotfiles" / "s.toml"
    )
    default_config_path.parent.mkdir(parents=True)
    default_config_path.symlink_to(target)
    assert run_cli("set", "B", "--value", "fake-b").code == 0
    assert default_config_path.is_symlink()
    assert 'B = "fake-b"' in target.read_text()


def test_a_malformed_file_is_refused_and_left_byte_for_byte(
    write_config: Callable[..., Path], prefect1_file: Path, fake: Callable[[str], str]
) -> None:
    broken = b'# keep me\n[context.secrets]\nA = "fake-a"\nB = \xff"x"\nC = = 1\r\n'
    path = write_config("")
    path.write_bytes(broken)
    value = fake("refused")
    for args in (
        ("set", "NEW", "--value", value),
        ("delete", "A"),
        ("import-prefect1", "--apply"),
    ):
        result = run_cli(*args)
        assert_one_line_error(result, 4)
        assert str(path) in result.stderr
        assert "line 4, column 5" in result.stderr, result.stderr
        assert value not in result.output
        assert path.read_bytes() == broken
    assert set(os.listdir(path.parent)) <= {"config.toml", "config.toml.lock"}  # no temp file left
    text_error = broken.replace(b"\xff", b"")
    path.write_bytes(text_error)
    result = run_cli("set", "NEW", "--value", value)
    assert_one_line_error(result, 4)
    assert "line 5, column 5" in result.stderr
    assert path.read_bytes() == text_error


def test_sixteen_concurrent_writers_lose_nothing(write_config: Callable[..., Path]) -> None:
    path = write_config('# mine\n[settings]\nserver = "never"  # keep\n')
    names = [f"CONCURRENT_{i:02d}" for i in range(16)]
    processes = [
        subprocess.Popen(
            [str(SCRIPT), "set", name, "--value", f"fake-{name.lower()}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ),
        )
        for name in names
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    for name in names:
        assert Secret(name).get() == f"fake-{name.lower()}"
    text = path.read_text()
    assert text.startswith('# mine\n[settings]\nserver = "never"  # keep\n')
    assert sum(line.startswith("CONCURRENT_") for line in text.splitlines()) == 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(os.listdir(path.parent)) <= {"config.toml", "config.toml.lock"}  # no temp file left
