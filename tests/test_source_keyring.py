"""The `keyring` source with a real keyring backend: keyrings.alt's file backend
(`PlaintextKeyring`), its file under this test's `XDG_DATA_HOME`.

Values are fake and never printed: checks on them are computed into booleans first.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import keyring.backends.null
import pytest
from keyrings.alt.file import PlaintextKeyring

from prefect_secrets import Secret, SecretNotFound, SecretSourceError, get_many
from prefect_secrets._cli.output import EXIT_BAD_SETTING, EXIT_NOT_FOUND, EXIT_SOURCE_FAILED
from prefect_secrets._sources.keyring import INDEX_ACCOUNT, account_of, key_of_account
from prefect_secrets._sources.registry import source_of_kind
from prefect_secrets._sources.remote import deadline_of
from prefect_secrets.sources import SecretKey, SourceConfig
from tests.support.cli import SCRIPT, Result, assert_one_line_error, run_cli

MASK = "********"
SERVICE = "prefect-secrets"
ORDER = "context,env,keyring,file"
BACKEND = "keyrings.alt.file.PlaintextKeyring"
Fake = Callable[[str], str]
Names = Callable[[str], str]


@pytest.fixture(autouse=True)
def keyring_file(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A file keyring of this test's own, in this process and in the CLI's."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", BACKEND)
    monkeypatch.setenv("PREFECT_SECRETS_SOURCES", ORDER)
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    keyring.set_keyring(backend)
    yield Path(backend.file_path)
    keyring.set_keyring(previous)


def source() -> Any:
    return source_of_kind("keyring", SourceConfig())


def same(a: object, b: object) -> bool:
    return a == b


def settings(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"PREFECT_SECRETS_{name.upper()}", str(value))


def index() -> list[str]:
    return list(json.loads(keyring.get_password(SERVICE, INDEX_ACCOUNT) or "[]"))


# --- reading ------------------------------------------------------------------------------


def test_a_value_set_with_keyrings_own_api_is_found(fake: Fake, unique_name: Names) -> None:
    name, value = unique_name("DB_PASSWORD"), fake("db")
    keyring.set_password(SERVICE, name, value)
    assert same(Secret(name).get(), value)
    assert source().exists(SecretKey(name), SourceConfig()) is True


def test_json_text_is_decoded_and_dicts_are_stored_as_json(fake: Fake, unique_name: Names) -> None:
    name, token = unique_name("API"), fake("token")
    keyring.set_password(SERVICE, name, json.dumps({"token": token, "port": 8443}))
    assert same(Secret(name).get(), {"token": token, "port": 8443})
    written = unique_name("WRITTEN")
    source().write(SecretKey(written), {"user": "etl", "password": token}, SourceConfig())
    assert same(
        json.loads(keyring.get_password(SERVICE, written) or ""), {"user": "etl", "password": token}
    )
    assert same(Secret(written).get(), {"user": "etl", "password": token})


def test_a_missing_secret_is_not_found_and_the_message_names_the_item(
    unique_name: Names,
) -> None:
    name = unique_name("ABSENT")
    assert source().exists(SecretKey(name), SourceConfig()) is False
    with pytest.raises(SecretNotFound) as raised:
        Secret(name).get()
    assert f"OS keychain service '{SERVICE}' account '{name}'" in str(raised.value)


def test_the_service_is_a_setting(
    monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("TEAM"), fake("team")
    keyring.set_password("fake-team-service", name, value)
    assert Secret(name).get(default=None) is None
    settings(monkeypatch, keyring_service="fake-team-service")
    assert same(Secret(name).get(), value)  # a new service: cached answers are dropped


async def test_async_lookups_work(fake: Fake, unique_name: Names) -> None:
    name, value = unique_name("ASYNC"), fake("async")
    keyring.set_password(SERVICE, name, value)
    assert same(await Secret(name).aget(), value)


def test_get_many(fake: Fake, unique_name: Names) -> None:
    values = {unique_name("MANY"): fake("many") for _ in range(3)}
    for name, value in values.items():
        keyring.set_password(SERVICE, name, value)
    missing = unique_name("MANY_MISSING")
    assert same(get_many([*values, missing], default=None), {**values, missing: None})


# --- names, scopes, the index -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "account"),
    [
        (SecretKey("DB_PASSWORD"), "DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", "etl", "prod"), "scope--etl--prod--DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", "etl", None), "scope--etl----DB_PASSWORD"),
        (SecretKey("DB_PASSWORD", None, "prod"), "scope----prod--DB_PASSWORD"),
        (SecretKey("scope--x"), "scope------scope--x"),
        (SecretKey("a--b", "etl", "prod"), "scope--etl--prod--a--b"),
    ],
)
def test_the_account_mapping_parses_back(key: SecretKey, account: str) -> None:
    assert account_of(key) == account
    assert key_of_account(account) == key


@pytest.mark.parametrize(
    "account", [INDEX_ACCOUNT, "scope--Etl----X", "scope--etl", "scope------X", "bad.name", ""]
)
def test_accounts_that_are_not_this_librarys_have_no_key(account: str) -> None:
    assert key_of_account(account) is None


def test_scoped_secrets_have_accounts_of_their_own_and_fall_back_to_org_wide(
    fake: Fake, unique_name: Names
) -> None:
    name, both, project_only, org = unique_name("SCOPED"), fake("both"), fake("p"), fake("org")
    config = SourceConfig()
    assert source().write(SecretKey(name, "etl", "prod"), both, config) == "created"
    assert source().write(SecretKey(name, "etl", None), project_only, config) == "created"
    assert source().write(SecretKey(name), org, config) == "created"
    assert same(keyring.get_password(SERVICE, f"scope--etl--prod--{name}"), both)
    assert same(keyring.get_password(SERVICE, f"scope--etl----{name}"), project_only)
    assert same(Secret(name, project="etl", domain="prod").get(), both)
    assert same(Secret(name, project="etl", domain="dev").get(), project_only)
    assert same(Secret(name, project="ml").get(), org)


def test_the_index_lists_what_was_written_and_holds_names_only(
    fake: Fake, unique_name: Names
) -> None:
    a, b, config = unique_name("A"), unique_name("B"), SourceConfig()
    values = [fake("a"), fake("b")]
    source().write(SecretKey(a), values[0], config)
    source().write(SecretKey(b, "etl", None), values[1], config)
    keyring.set_password(SERVICE, unique_name("OTHER_TOOL"), "fake-unlisted")
    assert set(source().names(config)) == {SecretKey(a), SecretKey(b, "etl", None)}
    assert index() == sorted([a, f"scope--etl----{b}"])
    index_text = keyring.get_password(SERVICE, INDEX_ACCOUNT) or ""
    assert sum(value in index_text for value in values) == 0
    assert source().delete(SecretKey(a), config) is True
    assert source().delete(SecretKey(a), config) is False
    assert index() == [f"scope--etl----{b}"]
    assert keyring.get_password(SERVICE, a) is None


def test_a_corrupt_index_says_how_to_reset_it(unique_name: Names) -> None:
    keyring.set_password(SERVICE, INDEX_ACCOUNT, "not json")
    with pytest.raises(
        SecretSourceError, match=re.escape("keyring del prefect-secrets __index__.json")
    ):
        list(source().names(SourceConfig()))


def test_rotation_is_seen_when_the_ttl_expires_or_at_once_after_our_write(
    monkeypatch: pytest.MonkeyPatch, fake: Fake, unique_name: Names
) -> None:
    settings(monkeypatch, cache_ttl=1)
    name, old, new, newest = unique_name("ROTATED"), fake("old"), fake("new"), fake("newest")
    keyring.set_password(SERVICE, name, old)
    assert same(Secret(name).get(), old)
    keyring.set_password(SERVICE, name, new)  # changed with another tool
    assert same(Secret(name).get(), old)  # cached
    time.sleep(1.1)
    assert same(Secret(name).get(), new)
    assert source().write(SecretKey(name), newest, SourceConfig()) == "replaced"
    assert same(Secret(name).get(), newest)


# --- failures -----------------------------------------------------------------------------------


def test_a_corrupt_keyring_file_is_an_error_that_quotes_none_of_it(
    keyring_file: Path, unique_name: Names
) -> None:
    """configparser's own message quotes the bad line: ours names the backend and type only."""
    keyring_file.parent.mkdir(parents=True)
    keyring_file.write_text("fake-corrupt-content-line\n")
    with pytest.raises(SecretSourceError) as raised:
        Secret(unique_name("CORRUPT")).get()
    message = str(raised.value)
    assert f"{BACKEND} failed (MissingSectionHeaderError)" in message
    assert "fake-corrupt" not in message


def test_no_backend_says_how_to_get_one(unique_name: Names) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(SecretSourceError, match="no keyring backend is available") as raised:
        Secret(unique_name("NO_BACKEND")).get()
    assert "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring" in str(raised.value)


def test_the_null_backend_refuses_to_store(unique_name: Names) -> None:
    keyring.set_keyring(keyring.backends.null.Keyring())
    with pytest.raises(SecretSourceError, match="null backend stores nothing"):
        source().write(SecretKey(unique_name("NULL")), "fake-null", SourceConfig())


def _release(fifo: Path) -> None:
    """Let a reader blocked in open() on `fifo` go: open it for writing, put an empty
    file in its place, then close (the reader reads end-of-file)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # no reader yet
    fifo.unlink()
    fifo.write_text("")
    os.close(writer)


def test_a_keychain_that_never_answers_is_bounded_by_the_deadline(
    keyring_file: Path, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    """A lookup waiting on the keychain (an unlock prompt nobody sees; here a keyring file
    that is a FIFO with no writer) fails at the deadline, timeout x (retries + 1) + pauses."""
    settings(monkeypatch, timeout=0.3, retries=0)
    keyring_file.parent.mkdir(parents=True)
    os.mkfifo(keyring_file)
    try:
        began = time.monotonic()
        with pytest.raises(SecretSourceError, match="no complete answer within") as raised:
            Secret(unique_name("PROMPT")).get()
        took = time.monotonic() - began
    finally:
        _release(keyring_file)
    deadline = deadline_of(SourceConfig().settings)
    assert deadline - 0.1 < took < deadline + 0.5
    assert "OS keychain: secret 'PROMPT_" in str(raised.value)


async def test_a_waiting_keychain_does_not_block_the_event_loop(
    keyring_file: Path, monkeypatch: pytest.MonkeyPatch, unique_name: Names
) -> None:
    settings(monkeypatch, timeout=0.5, retries=0)
    keyring_file.parent.mkdir(parents=True)
    os.mkfifo(keyring_file)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.05)
            ticks += 1

    try:
        outcome, _ = await asyncio.gather(
            Secret(unique_name("ASYNC_PROMPT")).aget(), tick(), return_exceptions=True
        )
    finally:
        _release(keyring_file)
    assert isinstance(outcome, SecretSourceError)
    assert ticks == 10


# --- as users run it ----------------------------------------------------------------------


def test_the_cli_sets_gets_lists_and_deletes_in_the_keychain(
    fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("CLI"), fake("cli")
    written = run_cli("set", name, "--store", "keyring", "--value", value)
    assert written.code == 0
    assert f"Saved secret '{name}': OS keychain service '{SERVICE}' account '{name}'" in (
        written.stdout
    )
    assert same(keyring.get_password(SERVICE, name), value)

    shown = run_cli("get", name)
    assert shown.code == 0
    assert f"{name}: {MASK} (string)" in shown.stdout
    revealed = run_cli("get", name, "--reveal")
    assert same(revealed.stdout.strip(), value)

    listing = run_cli("ls", "--json")
    rows = [row for row in json.loads(listing.stdout) if row["name"] == name]
    assert [(row["source"], row["scope"]) for row in rows] == [("keyring", "org")]
    which = run_cli("which", name)
    assert which.code == 0
    assert f"account '{name}'" in which.stdout

    scoped = run_cli("set", name, "--store", "keyring", "--project", "etl", "--value", value)
    assert scoped.code == 0
    assert same(keyring.get_password(SERVICE, f"scope--etl----{name}"), value)
    deleted = run_cli("delete", name, "--store", "keyring", "--org", "--yes")
    assert deleted.code == 0
    assert keyring.get_password(SERVICE, name) is None
    assert index() == [f"scope--etl----{name}"]
    assert run_cli("get", name, "--org").code == EXIT_NOT_FOUND
    outputs = [written, shown, listing, which, scoped, deleted]
    assert sum(value in result.output for result in outputs) == 0


def test_import_copies_between_the_file_and_the_keychain_scopes_kept(
    fake: Fake, unique_name: Names
) -> None:
    """Local development moving off the plaintext TOML: `import --from file --to keyring`."""
    plain, scoped = unique_name("IMP"), unique_name("IMPSCOPED")
    values = {plain: fake("imp"), scoped: fake("imp-scoped")}
    outputs = [
        run_cli("set", plain, "--value", values[plain]),
        run_cli("set", scoped, "--project", "etl", "--value", values[scoped]),
    ]
    dry = run_cli("import", "--from", "file", "--to", "keyring")
    outputs.append(dry)
    assert dry.code == 0, dry
    assert "would copy" in dry.stdout
    assert f"{scoped} (project=etl)" in dry.stdout
    assert keyring.get_password(SERVICE, plain) is None  # a dry run writes nothing

    applied = run_cli("import", "--from", "file", "--to", "keyring", "--apply")
    outputs.append(applied)
    assert applied.code == 0, applied
    stored = [
        same(keyring.get_password(SERVICE, plain), values[plain]),
        same(keyring.get_password(SERVICE, f"scope--etl----{scoped}"), values[scoped]),
    ]
    assert stored == [True, True]
    again = run_cli("import", "--from", "file", "--to", "keyring", "--apply")
    outputs.append(again)
    assert again.stdout.count("exists (--overwrite)") == 2

    # --store: what that one source holds and answers, listed in `sources` or not.
    only = {"PREFECT_SECRETS_SOURCES": "file"}
    listing = run_cli("ls", "--store", "keyring", "--json", env=only)
    outputs.append(listing)
    rows = {(row["name"], row["source"], row["scope"]) for row in json.loads(listing.stdout)}
    assert {(plain, "keyring", "org"), (scoped, "keyring", "project=etl")} <= rows
    got = run_cli("get", plain, "--store", "keyring", "--json", env=only)
    outputs.append(got)
    assert json.loads(got.stdout)["source"] == "keyring"
    which = run_cli("which", scoped, "--project", "etl", "--store", "keyring", env=only)
    outputs.append(which)
    assert which.code == 0
    assert "keyring" in which.stdout
    assert " file " not in which.stdout
    unknown = run_cli("ls", "--store", "nope")
    assert_one_line_error(unknown, 2)
    assert sum(value in result.output for result in outputs for value in values.values()) == 0


def test_the_cli_without_a_backend_fails_in_one_line(unique_name: Names) -> None:
    result = run_cli(
        "get", unique_name("X"), env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    )
    assert_one_line_error(result, EXIT_SOURCE_FAILED)
    assert "no keyring backend is available" in result.stderr


def run_cli_without_file_access(*args: str) -> Result:
    """The CLI as a user whose files are out of reach: as root, without the capabilities
    that let root read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's file capabilities"
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    process = subprocess.run(
        [*prefix, str(SCRIPT), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    return Result(process.returncode, process.stdout, process.stderr)


def test_a_keyring_file_the_process_cannot_read_is_an_error_not_a_missing_secret(
    keyring_file: Path, fake: Fake, unique_name: Names
) -> None:
    """keyrings.alt skips a file it cannot open (every secret would look absent, and the
    next write would replace the file): the source reports it."""
    name, value = unique_name("UNREADABLE"), fake("unreadable")
    keyring.set_password(SERVICE, name, value)
    before = keyring_file.read_bytes()
    keyring_file.chmod(0)
    try:
        got = run_cli_without_file_access("get", name)
        wrote = run_cli_without_file_access(
            "set", unique_name("W"), "--store", "keyring", "--value", "fake-w"
        )
    finally:
        keyring_file.chmod(0o600)
    assert_one_line_error(got, EXIT_SOURCE_FAILED)
    assert f"{BACKEND} cannot be read or written (Permission denied: {keyring_file})" in got.stderr
    assert_one_line_error(wrote, EXIT_SOURCE_FAILED)
    assert keyring_file.read_bytes() == before
    assert value not in got.output


def test_without_keyring_installed_the_error_says_which_extra(tmp_path: Path) -> None:
    """keyring's import is blocked by a shim earlier on the path, as if not installed."""
    shim = tmp_path / "shim" / "keyring"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('keyring is blocked by this test')\n")
    result = run_cli("get", "ANY_NAME", env={"PYTHONPATH": str(shim.parent)})
    assert_one_line_error(result, EXIT_BAD_SETTING)
    assert "source 'keyring' needs keyring: pip install \"prefect-secrets[keyring]\"" in (
        result.stderr
    )


MASKING_SCRIPT = """
import logging, sys
from prefect_secrets import Secret
value = Secret(sys.argv[1]).get()
print(f"printed: {value}")
logging.basicConfig()
logging.getLogger("etl").warning("logged: %s", value)
"""


def test_a_value_from_the_keychain_is_masked_when_printed_or_logged(
    tmp_path: Path, fake: Fake, unique_name: Names
) -> None:
    name, value = unique_name("MASKED"), fake("masked")
    keyring.set_password(SERVICE, name, value)
    result = subprocess.run(
        [sys.executable, "-c", MASKING_SCRIPT, name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    leaked = value in result.stdout or value in result.stderr
    assert result.returncode == 0, result.stderr[-3000:] if not leaked else "failed"
    assert not leaked
    assert f"printed: {MASK}" in result.stdout
    assert f"logged: {MASK}" in result.stderr
