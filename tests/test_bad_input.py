"""Bad input: a corpus of malformed files, names, settings and values.

Each case asserts the exact error class, that the message names what is at
fault (file and line/column, env var, or setting) and that it holds no value.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefect_secrets import Secret, SecretSourceError, SettingsError

FAKE = "fake-corpus-value-1234"


@dataclass(frozen=True)
class BadFile:
    id: str
    content: bytes
    fault: str  # must appear in the message, after "<path>"


BAD_FILES = [
    BadFile("double-equals", f'[context.secrets]\nA = = "{FAKE}"\n'.encode(), "line 2, column 5"),
    BadFile("unterminated-string", f'[context.secrets]\nA = "{FAKE}\n'.encode(), "line 2"),
    BadFile("unclosed-header", f'[context.secrets\nA = "{FAKE}"\n'.encode(), "line 1"),
    BadFile("bare-word", f"[context.secrets]\nA = {FAKE}\n".encode(), "line 2"),
    BadFile(
        "duplicate-key", f'[context.secrets]\nA = "{FAKE}"\nA = "{FAKE}2"\n'.encode(), "line 3"
    ),
    BadFile(
        "duplicate-table", b'[context.secrets]\nA = "x1"\n[context.secrets]\nB = "x2"\n', "line 3"
    ),
    BadFile(
        "context-is-string",
        f'context = "{FAKE}"\n'.encode(),
        "line 1: 'context' must be a table, not a string",
    ),
    BadFile(
        "secrets-is-string",
        f'[context]\nsecrets = "{FAKE}"\n'.encode(),
        "line 2: 'context.secrets' must be a table, not a string",
    ),
    BadFile(
        "secrets-is-array",
        f'[context]\nsecrets = ["{FAKE}"]\n'.encode(),
        "line 2: 'context.secrets' must be a table, not an array",
    ),
    BadFile(
        "settings-is-number",
        b"settings = 3\n",
        "line 1: 'settings' must be a table, not an integer",
    ),
    BadFile(
        "unknown-top-table",
        f'[secrets]\nA = "{FAKE}"\n'.encode(),
        "line 1: unknown table 'secrets'",
    ),
    BadFile(
        "unknown-context-key",
        f'[context]\npassword = "{FAKE}"\n'.encode(),
        "line 2: unknown key 'password' in [context]",
    ),
    BadFile(
        "name-with-space",
        f'[context.secrets]\n"bad name" = "{FAKE}"\n'.encode(),
        "line 2: invalid secret name 'bad name'",
    ),
    BadFile(
        "name-with-equals",
        f'[context.secrets]\n"a=b" = "{FAKE}"\n'.encode(),
        "line 2: invalid secret name 'a=b'",
    ),
    BadFile(
        "name-with-slash",
        f'[context.secrets]\n"a/b" = "{FAKE}"\n'.encode(),
        "line 2: invalid secret name 'a/b'",
    ),
    BadFile("empty-name", f'[context.secrets]\n"" = "{FAKE}"\n'.encode(), "invalid secret name ''"),
    BadFile(
        "name-with-newline",
        f'[context.secrets]\n"a\\nb" = "{FAKE}"\n'.encode(),
        "invalid secret name 'a\\nb'",
    ),
    BadFile(
        "name-too-long",
        f'[context.secrets]\n{"N" * 256} = "{FAKE}"\n'.encode(),
        "line 2: invalid secret name 'NNNNNNNNNNNNNNNN'... (256 characters)",
    ),
    BadFile(
        "bad-project",
        f'[project.Data_Eng.secrets]\nA = "{FAKE}"\n'.encode(),
        "line 1: invalid project 'Data_Eng'",
    ),
    BadFile(
        "bad-domain",
        f'[domain."prod env".secrets]\nA = "{FAKE}"\n'.encode(),
        "invalid domain 'prod env'",
    ),
    BadFile(
        "not-utf8",
        b'[context.secrets]\nA = "caf\xe9 ' + FAKE.encode() + b'"\n',
        "line 2, column 9: is not valid UTF-8 (byte 0xe9)",
    ),
    BadFile("nul-byte", b'[context.secrets]\nA = "\x00"\n', "is not valid TOML"),
]


@pytest.mark.parametrize("case", BAD_FILES, ids=[case.id for case in BAD_FILES])
def test_malformed_files(write_config: Callable[..., Path], case: BadFile) -> None:
    path = write_config("")
    path.write_bytes(case.content)
    with pytest.raises(SecretSourceError) as caught:
        Secret("A").get()
    error = caught.value
    assert type(error) is SecretSourceError
    message = str(error)
    assert message.startswith(f"config file {path}")
    assert case.fault in message, message
    assert FAKE not in message
    assert "\n" not in message


def test_a_malformed_file_is_never_rewritten_by_reading(write_config: Callable[..., Path]) -> None:
    path = write_config(f'[context.secrets]\nA = = "{FAKE}"\n')
    before = path.read_bytes()
    for _ in range(3):
        with pytest.raises(SecretSourceError):
            Secret("A").get()
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("directory", "is a directory"),
        ("dangling-symlink", "is a symlink to"),
        ("not-a-dir", "cannot be read: Not a directory"),
    ],
)
def test_the_path_itself_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, message: str
) -> None:
    path = tmp_path / "config.toml"
    if kind == "directory":
        path.mkdir()
    elif kind == "dangling-symlink":
        path.symlink_to(tmp_path / "gone.toml")
    else:
        (tmp_path / "a-file").write_text("")
        path = tmp_path / "a-file" / "config.toml"
    monkeypatch.setenv("PREFECT_SECRETS_CONFIG", str(path))
    with pytest.raises(SecretSourceError, match=message) as caught:
        Secret("A").get()
    assert str(path) in str(caught.value)


def test_an_unreadable_file(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """Root reads everything: the lookup runs in a child that drops to an unprivileged user."""
    path = write_config(f'[context.secrets]\nA = "{FAKE}"\n', path=tmp_path / "config.toml")
    path.chmod(0o000)
    os.environ["PREFECT_SECRETS_CONFIG"] = str(path)  # restored by the autouse fixture
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        outcome = "no error"
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            Secret("A").get()
        except SecretSourceError as exc:
            outcome = f"{type(exc).__name__} {exc}"
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            outcome = f"{type(exc).__name__}"
        os.write(write_end, outcome.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        outcome = pipe.read()
    os.waitpid(child, 0)
    assert outcome.startswith(f"SecretSourceError config file {path} cannot be read: "), outcome
    assert "Permission denied" in outcome
    assert FAKE not in outcome


BAD_SETTINGS_IN_FILE = [
    (
        'server = "sometimes"',
        "[settings] server = 'sometimes' is invalid: expected one of 'auto', 'always', 'never'",
    ),
    (
        "cache_ttl = -5",
        "[settings] cache_ttl = -5 is invalid: expected a finite number of seconds, 0 or more",
    ),
    ("cache_miss_ttl = 'soon'", "[settings] cache_miss_ttl = 'soon' is invalid"),
    (
        "timeout = 0",
        "[settings] timeout = 0 is invalid: expected a finite number of seconds greater than 0",
    ),
    ("retries = -1", "[settings] retries = -1 is invalid"),
    (
        "min_mask_length = 0",
        "[settings] min_mask_length = 0 is invalid: expected a whole number, 1 or more",
    ),
    (
        "mounted_dirs = ['relative/dir']",
        "[settings] mounted_dirs = ['relative/dir'] is invalid: "
        "'relative/dir' is not an absolute path",
    ),
    ("project = 'Data Eng'", "[settings] project = 'Data Eng' is invalid: project names are"),
    (
        "strict_permissions = 'maybe'",
        "[settings] strict_permissions = 'maybe' is invalid: expected true or false",
    ),
    ("use_local_secrets = 'yes please'", "[settings] use_local_secrets = 'yes please' is invalid"),
]


@pytest.mark.parametrize(
    ("line", "fault"), BAD_SETTINGS_IN_FILE, ids=[c[0].split()[0] for c in BAD_SETTINGS_IN_FILE]
)
def test_invalid_settings_in_the_file(
    write_config: Callable[..., Path], line: str, fault: str
) -> None:
    path = write_config(f"# settings\n[settings]\n{line}\n")
    with pytest.raises(SettingsError) as caught:
        Secret("A").get()
    assert type(caught.value) is SettingsError
    assert str(caught.value).startswith(f"{path}, line 3: ")
    assert fault in str(caught.value)


BAD_SETTINGS_IN_ENV = [
    ("PREFECT_SECRETS_SERVER", "sometimes", "expected one of"),
    ("PREFECT_SECRETS_CACHE_TTL", "-1", "0 or more"),
    ("PREFECT_SECRETS_TIMEOUT", "nan", "finite"),
    ("PREFECT_SECRETS_RETRIES", "two", "whole number"),
    ("PREFECT_SECRETS_ENV_PREFIX", "MY-APP", "letters, digits and '_'"),
    ("PREFECT__CLOUD__USE_LOCAL_SECRETS", "perhaps", "true or false"),
]


@pytest.mark.parametrize(
    ("var", "raw", "fault"), BAD_SETTINGS_IN_ENV, ids=[c[0] for c in BAD_SETTINGS_IN_ENV]
)
def test_invalid_settings_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    write_config: Callable[..., Path],
    var: str,
    raw: str,
    fault: str,
) -> None:
    write_config(f'[context.secrets]\nOTHER = "{FAKE}"\n')
    monkeypatch.setenv(var, raw)
    with pytest.raises(SettingsError) as caught:
        Secret("A").get()
    assert type(caught.value) is SettingsError
    assert str(caught.value).startswith(f"{var}")
    assert repr(raw) in str(caught.value)
    assert fault in str(caught.value)
    assert FAKE not in str(caught.value)


@pytest.mark.parametrize("name", ["", " ", "a b", "a=b", "a/b", "a\nb", "x" * 256, "é"])
def test_invalid_names_are_value_errors_with_the_rule(name: str) -> None:
    with pytest.raises(ValueError, match="names are 1-255 characters of letters, digits") as caught:
        Secret(name)
    assert type(caught.value) is ValueError


@pytest.mark.parametrize(
    "raw", ['{"user": "etl"', "[1, 2", '"unterminated', "{'single': 'quotes'}", "tru", "NaNa"]
)
def test_env_values_that_look_like_broken_json_come_back_raw(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    """Documented: a string that is not valid JSON is returned as it is, never an error."""
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__LOOKS_LIKE_JSON", raw)
    assert Secret("LOOKS_LIKE_JSON").get() == raw


def test_huge_and_unicode_values_from_every_local_source(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    huge = "fake-🔑-ünïcødé-" + "x" * 1_000_000
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__HUGE_ENV", huge)
    write_config(f'[context.secrets]\nHUGE_FILE = "{huge}"\n')
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "HUGE_MOUNTED").write_text(huge, encoding="utf-8")
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", str(mounted))
    for name in ("HUGE_ENV", "HUGE_FILE", "HUGE_MOUNTED"):
        assert Secret(name).get() == huge
