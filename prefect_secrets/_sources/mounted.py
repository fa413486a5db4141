"""Mounted secrets: one file per secret in a directory, as Docker and Kubernetes provide.

    /run/secrets/WAREHOUSE_PASSWORD          Docker / Compose secrets
    /etc/secrets/db-creds/password           a Kubernetes secret volume (Flyte mounts
                                             /etc/secrets/<group>/<key>): configure
                                             /etc/secrets/db-creds as a mounted dir

The file named like the secret (case kept) holds its value; one trailing
newline is dropped (`echo value > file` and `docker secret create` add one),
and the text is then decoded like every other stored string. Directories:
setting `mounted_dirs` (env `PREFECT_SECRETS_MOUNTED_DIRS`, a PATH-like
list), searched in order. Unset, `/run/secrets` is used when it exists (a
Docker convention, checked once per process); `mounted_dirs = []` turns the
source off. A configured directory that does not exist is an error, not an
empty source: a volume that failed to mount must not look like "no secret".
Files are re-read when they change (Kubernetes swaps them in place), at the
cost of one `stat` per lookup.
"""

from __future__ import annotations

import os
import stat
from _thread import allocate_lock

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.errors import SecretSourceError
from prefect_secrets._core.missing import MISSING
from prefect_secrets._core.names import is_valid_name
from prefect_secrets.sources import SecretKey, SecretSource, SourceConfig, org_key

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["DEFAULT_MOUNTED_DIR", "MountedSource"]

DEFAULT_MOUNTED_DIR = "/run/secrets"


class MountedSource(SecretSource):
    kind = "mounted"
    blocking_io = False

    def __init__(self) -> None:
        self._default_exists: bool | None = None
        self._contents: dict[str, tuple[tuple[int, ...], str]] = {}
        self._lock = allocate_lock()

    def directories(self, config: SourceConfig) -> tuple[str, ...]:
        """The mounted directories in force, in search order."""
        configured = config.settings.mounted_dirs
        if configured is not None:
            return configured
        if self._default_exists is None:
            self._default_exists = os.path.isdir(DEFAULT_MOUNTED_DIR)
        return (DEFAULT_MOUNTED_DIR,) if self._default_exists else ()

    def lookup(self, key: SecretKey, config: SourceConfig) -> Any:
        for directory in self.directories(config):
            value = self._read(os.path.join(directory, key[0]), directory)
            if value is not MISSING:
                return value
        return MISSING

    def supplier(self, key: SecretKey, config: SourceConfig) -> str | None:
        """The file that supplies `key` (the first directory that has it), or None."""
        for directory in self.directories(config):
            path = os.path.join(directory, key[0])
            if self._read(path, directory) is not MISSING:
                return path
        return None

    def names(self, config: SourceConfig) -> Iterable[SecretKey]:
        keys: dict[str, SecretKey] = {}
        for directory in self.directories(config):
            try:
                entries = sorted(os.listdir(directory))
            except OSError as exc:
                raise _error(
                    directory, f"mounted directory {directory} cannot be listed: {exc.strerror}"
                ) from None
            for entry in entries:
                if is_valid_name(entry) and os.path.isfile(os.path.join(directory, entry)):
                    keys.setdefault(entry, org_key(entry))
        return list(keys.values())

    def skip_reason(self, config: SourceConfig) -> str | None:
        if self.directories(config):
            return None
        if config.settings.mounted_dirs is not None:
            return "mounted_dirs is empty"
        return f"mounted_dirs is not set and {DEFAULT_MOUNTED_DIR} does not exist"

    def place(self, key: SecretKey, config: SourceConfig) -> str:
        directories = self.directories(config)
        if not directories:
            return f"mounted files: not read ({self.skip_reason(config)})"
        try:
            supplier = self.supplier(key, config)
        except SecretSourceError:
            supplier = None  # the lookup reports the failure itself
        if supplier is not None:
            return f"mounted file {supplier}"
        paths = ", ".join(os.path.join(directory, key[0]) for directory in directories)
        return f"mounted file {paths}"

    def _read(self, path: str, directory: str) -> Any:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not os.path.isdir(directory):
                raise _error(
                    path,
                    f"mounted directory {directory} does not exist (setting mounted_dirs)",
                ) from None
            return MISSING
        except OSError as exc:
            raise _error(path, f"mounted file {path} cannot be read: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            raise _error(
                path,
                f"{path} is a directory; to read the files in it, add it to mounted_dirs",
            )
        signature = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        cached = self._contents.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise _error(path, f"mounted file {path} cannot be read: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _error(
                path, f"mounted file {path} is not UTF-8 text (byte {exc.start})"
            ) from None
        value = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
        with self._lock:
            self._contents[path] = (signature, value)
        return value


def _error(path: str, message: str) -> SecretSourceError:
    return SecretSourceError(message, source="mounted", place=path)
