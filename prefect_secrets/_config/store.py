"""Writing secrets into the config file: kept layout, atomic, locked, never over a broken file.

    write_secrets(path, {"WAREHOUSE_PASSWORD": "fake-password"})
    delete_secret(path, "WAREHOUSE_PASSWORD")

Every write:
- takes an exclusive `fcntl.flock` on `<file>.lock` (next to the file, never
  removed: removing a lock file lets two writers hold "the" lock at once), so
  concurrent writers queue up and none loses another's change;
- reads and validates the current file under that lock, exactly as lookups
  read it (tomllib): a malformed file is refused with its line and column and
  left byte-for-byte as it was, since rewriting it would drop what the parser
  could not understand;
- edits it with tomlkit, which keeps comments, blank lines, key order and
  quoting, then re-parses the result and refuses to write unless the only
  difference is the intended one (a tomlkit quirk must not move or drop a
  user's setting);
- writes a temporary file in the same directory (a rename is only atomic
  within one filesystem), fsyncs it, renames it over the file and fsyncs the
  directory: a crash leaves either the old file or the new one, never half;
  the temporary file a killed writer leaves is removed by the next write.

A new file (and a new directory) is created private: 0600 (0700). An
existing file keeps its mode: if the user chose one, it is not ours to
change (lookups warn when others can read it).

Error messages name the file, never a value.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from prefect_secrets._config.file import ConfigFile
from prefect_secrets._config.lookup import forget_known_order
from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._core.names import validate_name

__all__ = [
    "LOCK_TIMEOUT",
    "ORG_TABLE",
    "FileWrite",
    "UnstorableValueError",
    "delete_secret",
    "resolved_path",
    "write_secrets",
]

#: Seconds a writer waits for another writer's lock before giving up.
LOCK_TIMEOUT = 30.0

_NEW_FILE_HEADER = (
    "# prefect-secrets config file: secrets in [context.secrets], settings in [settings].\n"
    "# It holds secrets: keep it private (chmod 600) and out of version control.\n"
)


class UnstorableValueError(ValueError):
    """A value TOML cannot hold (null, NaN...). The message never shows the value."""


@dataclass(frozen=True)
class FileWrite:
    """What a write did to each name: "created", "replaced" or "kept" (it existed and
    overwriting was not asked for)."""

    path: str
    outcomes: dict[str, str]


#: The table org-wide secrets live in; a scope's table is another key path.
ORG_TABLE = ("context", "secrets")


def write_secrets(
    path: str,
    values: Mapping[str, Any],
    *,
    overwrite: bool = True,
    table: Sequence[str] = ORG_TABLE,
) -> FileWrite:
    """Set `values` (name -> value) in the secrets table `table` of the file at `path`.

    Values are str, int, float, bool, or dicts/lists of those (stored as TOML
    inline tables and arrays). With `overwrite=False`, names already in the
    file are kept as they are. Raises SecretSourceError when the file is
    malformed or cannot be written, UnstorableValueError for a value TOML
    cannot hold.
    """
    items = {validate_name(name): _toml_value(value, name) for name, value in values.items()}
    # tomlkit's items are compared as the plain values tomllib will read back.
    expected_values = {name: item.unwrap() for name, item in items.items()}

    def change(secrets_table: Any, existing: dict[str, Any]) -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for name, item in items.items():
            if name in existing and not overwrite:
                outcomes[name] = "kept"
                continue
            outcomes[name] = "replaced" if name in existing else "created"
            secrets_table[name] = item
        return outcomes

    def expect(secrets: dict[str, Any], outcomes: dict[str, str]) -> None:
        for name, outcome in outcomes.items():
            if outcome != "kept":
                secrets[name] = expected_values[name]

    real = resolved_path(path)
    return FileWrite(real, _update(real, tuple(table), change, expect, create=True))


def delete_secret(path: str, name: str, *, table: Sequence[str] = ORG_TABLE) -> bool:
    """Remove `name` from the secrets table `table` of the file at `path`; False if it
    was not there."""
    validate_name(name)

    def change(secrets_table: Any, existing: dict[str, Any]) -> dict[str, str]:
        if name not in existing:
            return {}
        del secrets_table[name]
        return {name: "deleted"}

    def expect(secrets: dict[str, Any], outcomes: dict[str, str]) -> None:
        secrets.pop(name, None)

    return bool(_update(resolved_path(path), tuple(table), change, expect, create=False))


def resolved_path(path: str) -> str:
    """The file a write to `path` changes."""
    # A config file that is a symlink (dotfiles repositories do this) is
    # updated where it points; renaming over the link would replace it.
    return os.path.realpath(os.path.expanduser(path))


_Change = Callable[[Any, dict[str, Any]], dict[str, str]]
_Expect = Callable[[dict[str, Any], dict[str, str]], None]


def _update(
    path: str, table: tuple[str, ...], change: _Change, expect: _Expect, *, create: bool
) -> dict[str, str]:
    """Apply `change` to the file's secrets table under the lock, check it, write it."""
    import tomllib

    import tomlkit

    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        if not create:
            return {}
        _make_private_dirs(directory, path)
    with _locked(path):
        # A fresh reader, not the cached one: this must see the bytes on disk now.
        try:
            document = ConfigFile(path).read()
        except SecretSourceError as exc:
            raise SecretSourceError(
                f"{exc}; nothing was written, the file is left as it is",
                source="file",
                place=path,
            ) from None
        if not document.exists and not create:
            return {}
        try:
            toml_document = tomlkit.parse(document.text)
        except tomlkit.exceptions.ParseError as exc:
            # tomllib accepted it, tomlkit did not: refuse rather than guess.
            raise _refused(
                path,
                f"cannot be edited without changing its layout (line {exc.line}, "
                f"column {exc.col}); edit it by hand",
            ) from None
        existing = dict(_table_in(document.data, table) or {})
        outcomes = change(_secrets_table(toml_document, path, table), existing)
        if not any(outcome != "kept" for outcome in outcomes.values()):
            return outcomes
        text = toml_document.as_string()
        if not document.exists:
            text = _NEW_FILE_HEADER + "\n" + text.lstrip("\n")
        wanted = deepcopy(document.data)
        wanted_table = wanted
        for key in table:
            wanted_table = wanted_table.setdefault(key, {})
        expect(wanted_table, outcomes)
        try:
            written = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            written = None
        # Whether a table emptied by a delete stays as a header or goes is layout only.
        if _without_empty_tables(written) != _without_empty_tables(wanted):
            raise _refused(
                path,
                "cannot be updated without disturbing its other contents; edit it by hand",
            )
        mode = document.mode if document.exists else 0o600
        _atomic_write(path, text, mode)
        forget_known_order()  # the `sources` setting may have been in what changed
        return outcomes


def _table_in(data: dict[str, Any], table: tuple[str, ...]) -> dict[str, Any] | None:
    for key in table:
        inner = data.get(key)
        if not isinstance(inner, dict):
            return None
        data = inner
    return data


def _without_empty_tables(data: Any) -> Any:
    """`data` with every table that is (or becomes) empty removed."""
    if not isinstance(data, dict):
        return data
    pruned = {}
    for key, value in data.items():
        value = _without_empty_tables(value)
        if value != {}:
            pruned[key] = value
    return pruned


def _secrets_table(document: Any, path: str, table: tuple[str, ...]) -> Any:
    """The tomlkit table at key path `table` (e.g. `[context.secrets]`), created when
    missing: as that one header, its parents as super tables (no empty `[context]`)."""
    import tomlkit

    current = document
    for depth, key in enumerate(table):
        inner = current.get(key)
        if inner is None:
            last = depth == len(table) - 1
            inner = tomlkit.table(is_super_table=not last)
            current.append(key, inner)
        elif not isinstance(inner, dict):
            # ConfigFile.read() already refuses this; kept as a guard for the writer.
            raise _refused(path, f"has a '{'.'.join(table[: depth + 1])}' that is not a table")
        current = inner
    return current


def _refused(path: str, reason: str) -> SecretSourceError:
    return SecretSourceError(f"config file {path} {reason}", source="file", place=path)


def _toml_value(value: Any, name: str) -> Any:
    """`value` as a tomlkit item: dicts become inline tables, so one secret stays one line."""
    import tomlkit

    def convert(item: Any) -> Any:
        if item is None:
            raise UnstorableValueError(
                f"secret {name!r}: TOML has no null; store the JSON as a string instead "
                "(without --json)"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise UnstorableValueError(f"secret {name!r}: NaN and infinity are not JSON values")
        if isinstance(item, dict):
            table = tomlkit.inline_table()
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise UnstorableValueError(f"secret {name!r}: table keys must be strings")
                table[key] = convert(inner)
            return table
        if isinstance(item, (list, tuple)):
            array = tomlkit.array()
            for inner in item:
                array.append(convert(inner))
            return array
        if isinstance(item, (str, bool, int, float)):
            return tomlkit.item(item)
        raise UnstorableValueError(
            f"secret {name!r}: a {type(item).__name__} cannot be stored in TOML"
        )

    return convert(value)


def _make_private_dirs(directory: str, path: str) -> None:
    try:
        # Only the directories created here get 0700; existing ones are left alone.
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise _refused(path, f"cannot be created: {exc.strerror} ({directory})") from None


@contextmanager
def _locked(path: str) -> Iterator[None]:
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _refused(path, f"cannot be locked: {exc.strerror} ({lock_path})") from None
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise _refused(
                        path, f"cannot be locked: {exc.strerror} ({lock_path})"
                    ) from None
            if time.monotonic() > deadline:
                raise _refused(
                    path,
                    f"is locked by another writer for over {LOCK_TIMEOUT:g} s "
                    f"(lock file {lock_path}); nothing was written",
                )
            time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _atomic_write(path: str, text: str, mode: int) -> None:
    directory, base = os.path.split(path)
    _remove_orphaned_temporaries(directory, base)
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".tmp")
    except OSError as exc:
        raise _refused(path, f"cannot be written: {exc.strerror} ({directory})") from None
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                os.fchmod(handle.fileno(), mode)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            raise _refused(path, f"cannot be written: {exc.strerror}") from None
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _remove_orphaned_temporaries(directory: str, base: str) -> None:
    """Remove the temporary files of writers killed mid-write (`.<base>.XXXXXXXX.tmp`).

    Only a writer holding the lock creates one, and the caller holds it now: any
    such file is an orphan. It holds a copy of the secrets, which must not outlive
    the next write (a secret deleted or rotated since would stay on disk).
    """
    prefix = f".{base}."
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        middle = name[len(prefix) : -len(".tmp")]
        if (
            name.startswith(prefix)
            and name.endswith(".tmp")
            and len(middle) == 8  # tempfile.mkstemp's random part
            and all(char in _TEMPORARY_CHARACTERS for char in middle)
        ):
            with suppress(OSError):
                os.unlink(os.path.join(directory, name))


_TEMPORARY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _fsync_directory(directory: str) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename itself is done
    finally:
        os.close(fd)
