"""The local TOML file: where it is, and reading it once per change.

    # ~/.config/prefect-secrets/config.toml
    [settings]
    server = "auto"

    [context.secrets]                         # org-wide
    WAREHOUSE_PASSWORD = "fake-password"
    SNOWFLAKE = { user = "etl", password = "fake-password" }

    [project.etl.secrets]                     # project "etl", any domain
    [domain.prod.secrets]                     # domain "prod", any project
    [project.etl.domain.prod.secrets]         # project "etl" in domain "prod"

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

from prefect_secrets._config.layout import line_of, secret_tables
from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import getenv, snapshot
from prefect_secrets._core.errors import SecretSourceError

if TYPE_CHECKING:
    from typing import Any

    from prefect_secrets._config.layout import Scope

__all__ = [
    "CONFIG_ENV_VAR",
    "ConfigDocument",
    "ConfigFile",
    "InsecurePermissionsWarning",
    "config_file",
    "config_path",
    "insecure_message",
    "warn_if_readable_by_others",
]

CONFIG_ENV_VAR = "PREFECT_SECRETS_CONFIG"


class InsecurePermissionsWarning(UserWarning):
    """A secrets file can be read by users other than its owner."""


class ConfigDocument:
    """One parsed version of a config file. Its repr never shows values.

    Compared and hashed by identity: each version of a file is one object,
    which is what per-version caches (settings) key on.
    """

    __slots__ = ("data", "exists", "mode", "path", "secrets", "tables", "text")

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
        #: {(project, domain): {name: value}}; (None, None) is `[context.secrets]`.
        self.tables: dict[Scope, dict[str, Any]] = {}
        #: `[context.secrets]`: the org-wide secrets (kept apart: every file lookup reads it).
        self.secrets: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"ConfigDocument(path={self.path!r}, exists={self.exists})"

    @property
    def settings(self) -> dict[str, Any]:
        """The `[settings]` table."""
        return self.data.get("settings", {})  # type: ignore[no-any-return]

    def scoped_secrets(self, project: str | None, domain: str | None) -> dict[str, Any]:
        """The secrets table of one scope (empty when the file has none)."""
        return self.tables.get((project, domain), _EMPTY)

    def line(self, table: str, key: str | None = None) -> int | None:
        """The 1-based line of `key` in `[table]` (or of the table), if it can be found."""
        return line_of(self.text, table, key)

    def where(self, table: str, key: str | None = None) -> str:
        """`"<path>, line N"`, or just the path when the line is unknown."""
        line = self.line(table, key)
        return f"{self.path}, line {line}" if line else str(self.path)


_EMPTY: dict[str, Any] = {}

# Asking "is it there?" with access() fails without raising: 1.2 us against 3.4 us for a
# failed lstat and its exception (measured), on every lookup of a deployment with no file.
_ACCESS_WITHOUT_FOLLOWING = os.access in os.supports_follow_symlinks


class ConfigFile:
    """A TOML file, parsed once per change (one `stat` per read otherwise).

    `strict`: the whole layout is ours, so unknown tables are refused (a typo
    like `[contex.secrets]` must not silently hide secrets). Prefect 1's file
    holds much else and only its `[context.secrets]` is checked.
    """

    def __init__(self, path: str, *, label: str = "config file", strict: bool = True) -> None:
        self.path = path
        self.label = label
        self.strict = strict
        self._lock = allocate_lock()
        self._signature: tuple[int, ...] | None = None
        # One object for "missing", so that what is cached per document
        # (settings) is not rebuilt on every call while there is no file.
        self._missing = ConfigDocument(path=path, exists=False)
        self._document = self._missing
        #: The last read found no file (a link to nothing counts as a file: lstat tells).
        self._absent = False

    def __repr__(self) -> str:
        return f"ConfigFile({self.path!r})"

    def read(self) -> ConfigDocument:
        """The current document; a missing file reads as empty.

        Raises SecretSourceError naming the file (and line, where there is
        one) when the file cannot be read or is not a valid secrets file.
        """
        if (
            self._absent
            and _ACCESS_WITHOUT_FOLLOWING
            and not os.access(self.path, os.F_OK, follow_symlinks=False)
        ):
            return self._missing
        st: os.stat_result | None = None
        # lstat first: without a file (a deployment on env vars or a cloud manager) that
        # is one failed syscall and one exception per lookup, not a failed stat and then
        # a failed lstat to tell a dangling symlink.
        try:
            st = os.lstat(self.path)
            if stat.S_ISLNK(st.st_mode):  # the file the link names decides
                st = os.stat(self.path)
        except FileNotFoundError:
            if st is not None:  # the link was there, its target is not
                raise self._error(
                    f"is a symlink to {os.readlink(self.path)!r}, which does not exist"
                ) from None
            self._signature = None
            self._absent = True
            return self._missing
        except OSError as exc:
            raise self._error(f"cannot be read: {exc.strerror}") from None
        self._absent = False
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
        document.tables = secret_tables(document, self._error, strict=self.strict)
        document.secrets = document.tables.get((None, None), {})
        return document

    def _error(self, reason: str) -> SecretSourceError:
        # "config file /p is a directory", but "config file /p, line 3: invalid ...".
        joined = f" {reason}" if reason.startswith(("is ", "cannot ")) else f", {reason}"
        return SecretSourceError(
            f"{self.label} {self.path}{joined}", source="file", place=str(self.path)
        )


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return line, column


def warn_if_readable_by_others(document: ConfigDocument, *, strict: bool) -> None:
    """Warn (or, with `strict`, refuse) like ssh does for a private key others can read."""
    if not document.exists or not document.mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    message = insecure_message(document.path, document.mode)
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


def insecure_message(path: str, mode: int) -> str:
    """What to say about a secrets file that others can access, with the fix."""
    return (
        f"{path} holds secrets and other users have access to it "
        f"(mode {mode:04o}); fix it with: chmod 600 {path}"
    )


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


_files: dict[tuple[str, bool], ConfigFile] = {}


def config_file(path: str, *, label: str = "config file", strict: bool = True) -> ConfigFile:
    """The one ConfigFile object of `path` (read strictly or not) in this process,
    so that its parsed version is shared."""
    found = _files.get((path, strict))
    if found is None:
        found = _files.setdefault((path, strict), ConfigFile(path, label=label, strict=strict))
    return found
