"""The local TOML file: where it is, and reading it once per change.

    # ~/.config/prefect-secrets/config.toml
    [settings]
    server = "auto"

    [context.secrets]
    WAREHOUSE_PASSWORD = "fake-password"
    SNOWFLAKE = { user = "etl", password = "fake-password" }

The file is found at `$PREFECT_SECRETS_CONFIG`, else
`$XDG_CONFIG_HOME/prefect-secrets/config.toml`, else
`~/.config/prefect-secrets/config.toml`. A missing file is simply empty. The
file is re-read when its size, modification time or inode changes, so a
long-running worker sees edits (and atomic replacements) without a restart;
on the hot path this costs one `stat`.
"""

from __future__ import annotations

import os
import stat
import warnings

# _thread, not threading: threading costs ~5 ms to import and only a lock is needed.
from _thread import allocate_lock

from prefect_secrets._environ import getenv, snapshot
from prefect_secrets._errors import SecretSourceError
from prefect_secrets._names import validate_name

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ConfigDocument",
    "ConfigFile",
    "InsecurePermissionsWarning",
    "config_file",
    "config_path",
    "line_of",
]

CONFIG_ENV_VAR = "PREFECT_SECRETS_CONFIG"


class InsecurePermissionsWarning(UserWarning):
    """A secrets file can be read by users other than its owner."""


class ConfigDocument:
    """One parsed version of a config file. Its repr never shows values.

    Compared and hashed by identity: each version of a file is one object,
    which is what per-version caches (settings) key on.
    """

    __slots__ = ("data", "exists", "mode", "path", "text")

    def __init__(
        self,
        path: str,
        exists: bool,
        text: str = "",
        data: dict[str, Any] | None = None,
        mode: int = 0,
    ) -> None:
        self.path = path
        self.exists = exists
        self.text = text
        self.data: dict[str, Any] = data if data is not None else {}
        self.mode = mode

    def __repr__(self) -> str:
        return f"ConfigDocument(path={self.path!r}, exists={self.exists})"

    @property
    def settings(self) -> dict[str, Any]:
        """The `[settings]` table."""
        return self.data.get("settings", {})  # type: ignore[no-any-return]

    @property
    def secrets(self) -> dict[str, Any]:
        """The `[context.secrets]` table."""
        return self.data.get("context", {}).get("secrets", {})  # type: ignore[no-any-return]

    def line(self, table: str, key: str | None = None) -> int | None:
        """The 1-based line of `key` in `[table]` (or of the table), if it can be found."""
        return line_of(self.text, table, key)

    def where(self, table: str, key: str | None = None) -> str:
        """`"<path>, line N"`, or just the path when the line is unknown."""
        line = self.line(table, key)
        return f"{self.path}, line {line}" if line else str(self.path)


def line_of(text: str, table: str, key: str | None = None) -> int | None:
    """Find where `[table]` (and `key` in it) is written in TOML `text`.

    tomllib gives no positions for valid documents, and error messages must
    name the line at fault; this handles the forms people write: a `[table]`
    header followed by `key = ...`, and dotted `table.key = ...` keys.
    """
    header = f"[{table}]"
    in_table = table == ""  # "" is the root table, before any header
    table_line = None
    for number, raw_line in enumerate(text.splitlines(), 1):
        stripped = raw_line.strip()
        if stripped.startswith("["):
            in_table = stripped.replace(" ", "").startswith(header)
            if in_table and table_line is None:
                table_line = number
                if key is None:
                    return number
            continue
        if key is None:
            continue
        head = stripped.split("=", 1)[0].strip().strip("\"'")
        if (in_table and head == key) or head.replace(" ", "") in (
            f"{table}.{key}",
            f'{table}."{key}"',
        ):
            return number
    return table_line


class ConfigFile:
    """A TOML file, parsed once per change (one `stat` per read otherwise)."""

    def __init__(self, path: str, *, label: str = "config file") -> None:
        self.path = path
        self.label = label
        self._lock = allocate_lock()
        self._signature: tuple[int, ...] | None = None
        # One object for "missing", so that what is cached per document
        # (settings) is not rebuilt on every call while there is no file.
        self._missing = ConfigDocument(path=path, exists=False)
        self._document = self._missing

    def __repr__(self) -> str:
        return f"ConfigFile({self.path!r})"

    def read(self) -> ConfigDocument:
        """The current document; a missing file reads as empty.

        Raises SecretSourceError naming the file (and line, where there is
        one) when the file cannot be read or is not a valid secrets file.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if os.path.islink(self.path):
                raise self._error(
                    f"is a symlink to {os.readlink(self.path)!r}, which does not exist"
                ) from None
            self._signature = None
            return self._missing
        except OSError as exc:
            raise self._error(f"cannot be read: {exc.strerror}") from None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev, st.st_mode)
        if signature == self._signature:
            return self._document
        with self._lock:
            if signature != self._signature:
                self._document = self._parse(st)
                self._signature = signature
            return self._document

    def _parse(self, st: os.stat_result) -> ConfigDocument:
        import tomllib  # only when a file changed; keeps `import prefect_secrets` light

        if stat.S_ISDIR(st.st_mode):
            raise self._error("is a directory, not a TOML file")
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise self._error(f"cannot be read: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line, column = _position(raw, exc.start)
            raise self._error(
                f"line {line}, column {column}: is not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib's messages name the position ("at line 3, column 9") and
            # never quote the document, so they are safe to show.
            raise self._error(f"is not valid TOML: {exc}") from None
        document = ConfigDocument(
            path=self.path, exists=True, text=text, data=data, mode=stat.S_IMODE(st.st_mode)
        )
        _check_shape(document, self._error)
        return document

    def _error(self, reason: str) -> SecretSourceError:
        return SecretSourceError(
            f"{self.label} {self.path} {reason}", source="file", place=str(self.path)
        )


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return line, column


def _check_shape(document: ConfigDocument, error: Any) -> None:
    """Tables must be tables and secret names valid, or the whole file is refused."""
    data = document.data
    for table in ("settings", "context"):
        if table in data and not isinstance(data[table], dict):
            raise error(
                f"line {document.line(table) or document.line('', table) or '?'}: "
                f"'{table}' must be a table, not {_toml_type(data[table])}"
            )
    context = data.get("context", {})
    if "secrets" in context and not isinstance(context["secrets"], dict):
        raise error(
            f"line {document.line('context', 'secrets') or '?'}: "
            f"'context.secrets' must be a table, not {_toml_type(context['secrets'])}"
        )
    for name in document.secrets:
        try:
            validate_name(name)
        except ValueError as exc:
            raise error(f"line {document.line('context.secrets', name) or '?'}: {exc}") from None


def _toml_type(value: object) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        list: "an array",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def warn_if_readable_by_others(document: ConfigDocument, *, strict: bool) -> None:
    """Warn (or, with `strict`, refuse) like ssh does for a private key others can read."""
    if not document.exists or not document.mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    message = (
        f"{document.path} holds secrets and other users have access to it "
        f"(mode {document.mode:04o}); fix it with: chmod 600 {document.path}"
    )
    if strict:
        raise SecretSourceError(
            f"{message} (refused because strict_permissions is on)",
            source="file",
            place=str(document.path),
        )
    key = (str(document.path), document.mode)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, InsecurePermissionsWarning, stacklevel=2)


_warned: set[tuple[str, int]] = set()


def config_path() -> str:
    """Where the config file is, from the environment (read at call time)."""
    env = snapshot(_PATH_ENV_VARS)
    path = _paths.get(env)
    if path is None:
        path = _paths[env] = _config_path(
            getenv(CONFIG_ENV_VAR), getenv("XDG_CONFIG_HOME"), getenv("HOME")
        )
    return path


_PATH_ENV_VARS = (CONFIG_ENV_VAR, "XDG_CONFIG_HOME", "HOME")


def _config_path(explicit: str | None, xdg: str | None, home: str | None) -> str:
    if explicit:
        return os.path.expanduser(explicit)
    # The XDG spec says a relative XDG_CONFIG_HOME is to be ignored.
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "prefect-secrets", "config.toml")
    home = home or os.path.expanduser("~")
    return os.path.join(home, ".config", "prefect-secrets", "config.toml")


# Joining paths costs more than the rest of an env lookup; environments
# change rarely, so remember the answer for each combination seen.
_paths: dict[tuple[object, ...], str] = {}


_files: dict[str, ConfigFile] = {}


def config_file(path: str, *, label: str = "config file") -> ConfigFile:
    """The one ConfigFile object of `path` in this process (so its cache is shared)."""
    found = _files.get(path)
    if found is None:
        found = _files.setdefault(path, ConfigFile(path, label=label))
    return found
