"""The TOML file source: where the file is, what it holds, and re-reading it when it changes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import Secret, SecretNotFound, SecretSourceError
from prefect_secrets._config.file import InsecurePermissionsWarning


def test_secrets_come_from_the_default_file(write_config: Callable[..., Path]) -> None:
    write_config('[context.secrets]\nWAREHOUSE_PASSWORD = "fake-warehouse-pw"\n')
    assert Secret("WAREHOUSE_PASSWORD").get() == "fake-warehouse-pw"


def test_a_missing_file_is_simply_empty(default_config_path: Path) -> None:
    assert not default_config_path.exists()
    assert not Secret("ANYTHING").exists()


def test_xdg_config_home_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    xdg = tmp_path / "xdg"
    write_config(
        '[context.secrets]\nX = "fake-xdg"\n', path=xdg / "prefect-secrets" / "config.toml"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert Secret("X").get() == "fake-xdg"


def test_a_relative_xdg_config_home_is_ignored(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    """The XDG spec says to ignore relative paths there."""
    write_config('[context.secrets]\nX = "fake-home"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert Secret("X").get() == "fake-home"


def test_prefect_secrets_config_beats_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    explicit = write_config('[context.secrets]\nX = "fake-explicit"\n', path=tmp_path / "mine.toml")
    write_config(
        '[context.secrets]\nX = "fake-xdg"\n',
        path=tmp_path / "xdg" / "prefect-secrets" / "config.toml",
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PREFECT_SECRETS_CONFIG", str(explicit))
    assert Secret("X").get() == "fake-explicit"


def test_tables_come_back_as_dicts_and_scalars_as_themselves(
    write_config: Callable[..., Path],
) -> None:
    write_config(
        "[context.secrets]\n"
        'CREDS = { user = "etl", password = "fake-pw" }\n'
        "PORT = 5432\n"
        'PORT_AS_STRING = "5432"\n'
        'QUOTED = "\\"5432\\""\n'
        "ENABLED = true\n"
        "[context.secrets.NESTED]\n"
        'key = "fake-nested"\n'
    )
    assert Secret("CREDS").get() == {"user": "etl", "password": "fake-pw"}
    assert Secret("PORT").get() == 5432
    assert Secret("PORT_AS_STRING").get() == 5432
    assert Secret("PORT_AS_STRING").get(raw=True) == "5432"
    assert Secret("QUOTED").get() == "5432"
    assert Secret("ENABLED").get() is True
    assert Secret("NESTED").get() == {"key": "fake-nested"}


def test_no_expansion_or_interpolation(write_config: Callable[..., Path]) -> None:
    """Prefect 1 expanded $VARS, ~ and ${a.b} with no way to turn it off; we never do."""
    write_config('[context.secrets]\nA = "$HOME/x"\nB = "~/y"\nC = "${context.secrets.A}"\n')
    assert [Secret(n).get() for n in "ABC"] == ["$HOME/x", "~/y", "${context.secrets.A}"]


def test_edits_are_seen_without_a_restart(write_config: Callable[..., Path]) -> None:
    secret = Secret("ROTATED")
    path = write_config('[context.secrets]\nROTATED = "fake-old"\n')
    assert secret.get() == "fake-old"
    path.write_text('[context.secrets]\nROTATED = "fake-new"\n')
    assert secret.get() == "fake-new"


def test_an_atomic_replacement_is_seen(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    """Editors and our CLI replace files by rename: new inode, maybe the same size and mtime."""
    path = write_config('[context.secrets]\nROTATED = "fake-aaa"\n')
    assert Secret("ROTATED").get() == "fake-aaa"
    stat_before = path.stat()
    replacement = tmp_path / "replacement.toml"
    replacement.write_text('[context.secrets]\nROTATED = "fake-bbb"\n')
    replacement.chmod(0o600)
    os.utime(replacement, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    os.replace(replacement, path)
    assert Secret("ROTATED").get() == "fake-bbb"


def test_a_deleted_file_is_empty_again(write_config: Callable[..., Path]) -> None:
    path = write_config('[context.secrets]\nGONE = "fake-gone"\n')
    assert Secret("GONE").exists()
    path.unlink()
    assert not Secret("GONE").exists()


def test_a_file_created_after_lookups_found_none_is_seen_at_once(
    default_config_path: Path, tmp_path: Path
) -> None:
    """Once there is no file, lookups only ask whether one appeared (a cheaper check):
    a file, or a link to nothing, that appears is still seen on the next lookup."""
    assert not Secret("APPEARS").exists()
    assert not Secret("APPEARS").exists()
    default_config_path.parent.mkdir(parents=True, exist_ok=True)
    default_config_path.symlink_to(tmp_path / "not-yet.toml")
    with pytest.raises(SecretSourceError, match=r"symlink to .* which does not exist"):
        Secret("APPEARS").get()
    target = tmp_path / "not-yet.toml"
    target.write_text('[context.secrets]\nAPPEARS = "fake-appeared"\n')
    target.chmod(0o600)
    assert Secret("APPEARS").get() == "fake-appeared"
    default_config_path.unlink()
    assert not Secret("APPEARS").exists()
    default_config_path.write_text('[context.secrets]\nAPPEARS = "fake-appeared-again"\n')
    default_config_path.chmod(0o600)
    assert Secret("APPEARS").get() == "fake-appeared-again"


def test_malformed_toml_names_the_file_and_line(write_config: Callable[..., Path]) -> None:
    path = write_config('[context.secrets]\nA = "fake-ok"\nB = = "fake-broken"\n')
    with pytest.raises(SecretSourceError) as caught:
        Secret("MISSING_ONE").get()
    message = str(caught.value)
    assert str(path) in message
    assert "line 3" in message
    assert "fake-ok" not in message
    assert "fake-broken" not in message


def test_a_malformed_file_is_a_source_error_for_exists_too(
    write_config: Callable[..., Path],
) -> None:
    """exists() never answers False when the file could not be read."""
    write_config("[context.secrets\n")
    with pytest.raises(SecretSourceError):
        Secret("X").exists()


def test_higher_sources_still_answer_when_the_file_is_broken(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is only read when the context and env vars do not have the secret."""
    write_config("this is not toml")
    monkeypatch.setenv("PREFECT__CONTEXT__SECRETS__X", "fake-env")
    assert Secret("X").get() == "fake-env"


def test_context_secrets_of_the_wrong_type_are_refused(write_config: Callable[..., Path]) -> None:
    path = write_config('[context]\nsecrets = "fake-not-a-table"\n')
    with pytest.raises(
        SecretSourceError, match=r"line 2: 'context.secrets' must be a table, not a string"
    ) as caught:
        Secret("X").get()
    assert str(path) in str(caught.value)
    assert "fake-not-a-table" not in str(caught.value)


def test_a_directory_in_place_of_the_file(default_config_path: Path) -> None:
    default_config_path.mkdir(parents=True)
    with pytest.raises(SecretSourceError, match="is a directory"):
        Secret("X").get()


def test_a_dangling_symlink_in_place_of_the_file(default_config_path: Path, tmp_path: Path) -> None:
    default_config_path.parent.mkdir(parents=True)
    default_config_path.symlink_to(tmp_path / "nowhere.toml")
    with pytest.raises(SecretSourceError, match=r"symlink to .* which does not exist"):
        Secret("X").get()


def test_a_file_readable_by_others_gets_a_warning_with_the_fix(
    write_config: Callable[..., Path],
) -> None:
    path = write_config('[context.secrets]\nX = "fake-x"\n', mode=0o644)
    with pytest.warns(InsecurePermissionsWarning, match=f"chmod 600 {path}"):
        assert Secret("X").get() == "fake-x"


def test_strict_permissions_refuses_such_a_file(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[context.secrets]\nX = "fake-x"\n', mode=0o640)
    monkeypatch.setenv("PREFECT_SECRETS_STRICT_PERMISSIONS", "true")
    with pytest.raises(SecretSourceError, match="chmod 600"):
        Secret("X").get()


def test_prefect1_file_is_read_below_ours(home: Path, write_config: Callable[..., Path]) -> None:
    """1.x users' ~/.prefect/config.toml keeps working, at lower precedence."""
    write_config(
        '[context.secrets]\nOLD = "fake-old-1x"\nBOTH = "fake-1x"\n',
        path=home / ".prefect" / "config.toml",
    )
    write_config('[context.secrets]\nBOTH = "fake-ours"\n')
    assert Secret("OLD").get() == "fake-old-1x"
    assert Secret("BOTH").get() == "fake-ours"


def test_prefect1_file_can_be_turned_off(
    home: Path, write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config('[context.secrets]\nOLD = "fake-old-1x"\n', path=home / ".prefect" / "config.toml")
    write_config('[settings]\nprefect1_config = ""\n')
    with pytest.raises(SecretNotFound) as caught:
        Secret("OLD").get()
    assert 'not read (prefect1_config = "")' in str(caught.value)


def test_prefect1_interpolation_is_not_done(home: Path, write_config: Callable[..., Path]) -> None:
    write_config('[context.secrets]\nOLD = "${user.x}"\n', path=home / ".prefect" / "config.toml")
    assert Secret("OLD").get() == "${user.x}"
