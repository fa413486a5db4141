"""Mounted secrets: one file per secret in directories, as Docker and Kubernetes mount them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from prefect_secrets import Secret, SecretNotFound, SecretSourceError, SettingsError


@pytest.fixture
def mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "run-secrets"
    directory.mkdir()
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", str(directory))
    return directory


def test_a_mounted_file_is_a_secret(mounted: Path) -> None:
    (mounted / "DB_PASSWORD").write_text("fake-mounted-pw\n")  # as `echo ... >` writes it
    assert Secret("DB_PASSWORD").get() == "fake-mounted-pw"
    assert Secret("DB_PASSWORD").source() == f"mounted file {mounted}/DB_PASSWORD"


def test_only_one_trailing_newline_is_dropped(mounted: Path) -> None:
    (mounted / "PEM").write_text("fake line 1\nfake line 2\n\n")
    (mounted / "CRLF").write_bytes(b"fake-crlf\r\n")
    assert Secret("PEM").get() == "fake line 1\nfake line 2\n"
    assert Secret("CRLF").get() == "fake-crlf"


def test_json_in_a_mounted_file_is_decoded(mounted: Path) -> None:
    (mounted / "CREDS").write_text('{"user": "etl", "password": "fake-pw"}')
    assert Secret("CREDS").get() == {"user": "etl", "password": "fake-pw"}


def test_directories_are_searched_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for directory in (first, second):
        directory.mkdir()
    (first / "A").write_text("fake-first")
    (second / "A").write_text("fake-second")
    (second / "B").write_text("fake-only-second")
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", f"{first}{os.pathsep}{second}")
    assert (Secret("A").get(), Secret("B").get()) == ("fake-first", "fake-only-second")


def test_the_file_that_supplied_the_value_is_named_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several directories, `source()`, `explain()` and `which` name the one file
    that supplied the value, not every candidate."""
    first, second = tmp_path / "first", tmp_path / "second"
    for directory in (first, second):
        directory.mkdir()
    (second / "ONLY_SECOND").write_text("fake-only-second")
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", f"{first}{os.pathsep}{second}")
    secret = Secret("ONLY_SECOND")
    assert secret.source() == f"mounted file {second / 'ONLY_SECOND'}"
    found = [place for place in secret.explain() if place.status == "found"]
    assert [place.location for place in found] == [f"mounted file {second / 'ONLY_SECOND'}"]
    assert str(first) not in found[0].location


def test_dirs_can_be_set_in_the_file(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    directory = tmp_path / "k8s"
    directory.mkdir()
    (directory / "password").write_text("fake-k8s")
    write_config(f'[settings]\nmounted_dirs = ["{directory}"]\n')
    assert Secret("password").get() == "fake-k8s"


def test_a_kubernetes_style_update_is_seen(mounted: Path) -> None:
    """Kubernetes swaps a `..data` symlink to update a secret volume in place."""
    for version in ("v1", "v2"):
        (mounted / f"..{version}").mkdir()
        (mounted / f"..{version}" / "TOKEN").write_text(f"fake-token-{version}")
    (mounted / "..data").symlink_to("..v1")
    (mounted / "TOKEN").symlink_to("..data/TOKEN")
    assert Secret("TOKEN").get() == "fake-token-v1"
    (mounted / "..data_tmp").symlink_to("..v2")
    os.replace(mounted / "..data_tmp", mounted / "..data")
    assert Secret("TOKEN").get() == "fake-token-v2"


def test_a_configured_directory_that_is_missing_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A volume that failed to mount must not look like "no such secret"."""
    missing = tmp_path / "not-mounted"
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", str(missing))
    with pytest.raises(SecretSourceError, match=f"mounted directory {missing} does not exist"):
        Secret("X").get()


def test_a_directory_named_like_the_secret_is_an_error(mounted: Path) -> None:
    (mounted / "group").mkdir()
    with pytest.raises(SecretSourceError, match="is a directory; to read the files in it"):
        Secret("group").get()


def test_binary_files_are_refused(mounted: Path) -> None:
    (mounted / "BLOB").write_bytes(b"\xff\xfe fake")
    with pytest.raises(SecretSourceError, match="is not UTF-8 text") as caught:
        Secret("BLOB").get()
    assert "fake" not in str(caught.value).replace(str(mounted), "")


@pytest.mark.parametrize("where", ["env", "file"])
def test_an_empty_list_turns_the_source_off(
    where: str, monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    """`[]` is the one way to turn it off, in the env var and in the file alike."""
    if where == "env":
        monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", "[]")
    else:
        write_config("[settings]\nmounted_dirs = []\n")
    with pytest.raises(SecretNotFound, match=r"mounted files: not read \(mounted_dirs is empty\)"):
        Secret("X").get()


def test_an_empty_env_var_says_how_to_turn_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty value is ambiguous (unset? off?): refused, naming the spelling that works."""
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", "")
    expected = r"PREFECT_SECRETS_MOUNTED_DIRS = '' is invalid: .*\[\]"
    with pytest.raises(SettingsError, match=expected):
        Secret("X").get()


def test_a_json_list_in_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: Callable[[str], str]
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    value = fake("second")
    (second / "X").write_text(value + "\n")
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", f'["{first}", "{second}"]')
    assert Secret("X").get() == value


def test_relative_directories_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_SECRETS_MOUNTED_DIRS", "run/secrets")
    with pytest.raises(ValueError, match=r"PREFECT_SECRETS_MOUNTED_DIRS .* not an absolute path"):
        Secret("X").get()


def test_the_default_directory_is_used_only_when_it_exists() -> None:
    """Unset, /run/secrets is searched if this machine has it, and skipped otherwise."""
    places = {p.source: p for p in Secret("X").explain()}
    if os.path.isdir("/run/secrets"):
        assert places["mounted"].location == "mounted file /run/secrets/X"
    else:
        assert places["mounted"].status == "not asked"
        assert "/run/secrets does not exist" in places["mounted"].location
