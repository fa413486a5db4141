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

from prefect_secrets._environ import getenv, snapshot
from prefect_secrets._errors import SecretSourceError
from prefect_secrets._names import validate_name, validate_scope

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    #: (project, domain); None for "not scoped by it".
    Scope = tuple[str | None, str | None]

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
            compact = stripped.replace(" ", "")
            in_table = compact.startswith(header)
            # A table written only through its subtables ([project.etl.secrets]
            # for [project.etl]) is "at" its first subtable.
            if table_line is None and (in_table or compact.startswith(f"[{table}.")):
                table_line = number
                if key is None:
                    return number
            continue
        if key is None:
            continue
        head = _key_of(stripped)
        if (in_table and head == key) or head.replace(" ", "") in (
            f"{table}.{key}",
            f'{table}."{key}"',
        ):
            return number
    return table_line


def _key_of(line: str) -> str:
    """The key a `key = value` line assigns, quotes removed ("a=b" = 1 -> a=b)."""
    if line[:1] in ("'", '"'):
        quote = line[0]
        end = line.find(quote, 1)
        while quote == '"' and end > 0 and line[end - 1] == "\\":
            end = line.find(quote, end + 1)
        if end > 0 and quote == "'":
            return line[1:end]
        if end > 0:
            import orjson  # TOML's basic-string escapes are JSON's (\n, \", \u00e9)

            try:
                return str(orjson.loads(line[: end + 1]))
            except orjson.JSONDecodeError:
                return line[1:end]
    return line.split("=", 1)[0].strip()


_EMPTY: dict[str, Any] = {}


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
        document.tables = _secret_tables(document, self._error, strict=self.strict)
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


def _secret_tables(
    document: ConfigDocument, error: Callable[[str], Exception], *, strict: bool
) -> dict[Scope, dict[str, Any]]:
    """Check the layout and collect every secrets table by scope; refuse the file otherwise.

    [settings]                           settings (checked by _settings)
    [context.secrets]                    org-wide secrets
    [project.<p>.secrets]                project p
    [domain.<d>.secrets]                 domain d
    [project.<p>.domain.<d>.secrets]     project p in domain d
    """
    data = document.data
    top_level = {"settings", "context", "project", "domain"}
    if strict:
        for key in data:
            if key not in top_level:
                raise error(
                    f"{_at(document.line(key) or document.line('', key))}unknown table "
                    f"{key!r} (expected: {', '.join(sorted(top_level))})"
                )
    tables: dict[Scope, dict[str, Any]] = {}

    def table(value: object, path: str, allowed: set[str] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            head, _, last = path.rpartition(".")
            line = document.line(head, last) if head else document.line("", last)
            where = _at(line or document.line(path))
            raise error(f"{where}'{path}' must be a table, not {_toml_type(value)}")
        if allowed is not None and strict:
            for key in value:
                if key not in allowed:
                    raise error(
                        f"{_at(document.line(path, key) or document.line(f'{path}.{key}'))}"
                        f"unknown key {key!r} in [{path}] (expected: {', '.join(sorted(allowed))})"
                    )
        return value

    def secrets_of(parent: dict[str, Any], path: str, scope: Scope) -> None:
        if "secrets" not in parent:
            return
        secrets = table(parent["secrets"], f"{path}.secrets", None)
        for name in secrets:
            try:
                validate_name(name)
            except ValueError as exc:
                raise error(f"{_at(document.line(f'{path}.secrets', name))}{exc}") from None
        tables[scope] = secrets

    def scope_name(value: str, path: str, what: str) -> str:
        try:
            return validate_scope(value, what=what)
        except ValueError as exc:
            raise error(f"{_at(document.line(path))}{exc}") from None

    if "settings" in data:
        table(data["settings"], "settings", None)
    if "context" in data:
        secrets_of(
            table(data["context"], "context", {"secrets"} if strict else None),
            "context",
            (None, None),
        )
    if not strict:
        return tables
    for project, body in table(data.get("project", {}), "project", None).items():
        path = f"project.{project}"
        scope_name(project, path, "project")
        body = table(body, path, {"secrets", "domain"})
        secrets_of(body, path, (project, None))
        for domain, inner in table(body.get("domain", {}), f"{path}.domain", None).items():
            inner_path = f"{path}.domain.{domain}"
            scope_name(domain, inner_path, "domain")
            secrets_of(table(inner, inner_path, {"secrets"}), inner_path, (project, domain))
    for domain, body in table(data.get("domain", {}), "domain", None).items():
        path = f"domain.{domain}"
        scope_name(domain, path, "domain")
        secrets_of(table(body, path, {"secrets"}), path, (None, domain))
    return tables


def _at(line: int | None) -> str:
    return f"line {line}: " if line else ""


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
