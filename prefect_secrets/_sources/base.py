"""The contract every source implements: `lookup(key, config)` -> value or MISSING."""

from __future__ import annotations

from abc import ABC, abstractmethod

from prefect_secrets._config import Config
from prefect_secrets._sentinel import MISSING

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, ClassVar

__all__ = ["SecretKey", "SecretSource", "org_key"]


class SecretKey(tuple[str, "str | None", "str | None"]):
    """A secret name in one scope: (name, project, domain); project and
    domain are None for org-wide. A plain tuple (hashable, cheap), with names."""

    __slots__ = ()

    def __new__(cls, name: str, project: str | None = None, domain: str | None = None) -> SecretKey:
        return tuple.__new__(cls, (name, project, domain))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def project(self) -> str | None:
        return self[1]

    @property
    def domain(self) -> str | None:
        return self[2]

    def __repr__(self) -> str:
        return f"SecretKey(name={self[0]!r}, project={self[1]!r}, domain={self[2]!r})"


_org_keys: dict[str, SecretKey] = {}


def org_key(name: str) -> SecretKey:
    """The org-wide key of `name`, built once per name (every lookup needs one)."""
    key = _org_keys.get(name)
    if key is None:
        key = SecretKey(name)
        if len(_org_keys) < 4096:
            _org_keys[name] = key
    return key


class SecretSource(ABC):
    """One place secrets can come from.

    `lookup` is the contract: the value stored for `key`, or `MISSING` when
    this source does not have it. A source that cannot tell (unreadable file,
    unreachable server) raises `SecretSourceError`; it never answers MISSING
    for "I don't know". The value is returned as stored: decoding is the
    caller's job.
    """

    #: Short label shown by `which` and `ls`: "context", "env", "file", ...
    kind: ClassVar[str]
    #: Whether the source stores secrets per project/domain scope.
    scoped: ClassVar[bool] = False

    @abstractmethod
    def lookup(self, key: SecretKey, config: Config) -> Any:
        """The stored value of `key`, or MISSING."""

    async def alookup(self, key: SecretKey, config: Config) -> Any:
        """`lookup` for async callers; sources that do I/O override it."""
        return self.lookup(key, config)

    def lookup_many(self, keys: Sequence[SecretKey], config: Config) -> dict[SecretKey, Any]:
        """{key: stored value} for those of `keys` this source has; sources
        that can batch (the server) override it."""
        found = {}
        for key in keys:
            value = self.lookup(key, config)
            if value is not MISSING:
                found[key] = value
        return found

    async def alookup_many(self, keys: Sequence[SecretKey], config: Config) -> dict[SecretKey, Any]:
        """`lookup_many` for async callers."""
        return self.lookup_many(keys, config)

    @abstractmethod
    def place(self, key: SecretKey, config: Config) -> str:
        """Where `lookup` looks for `key`, for messages (never a value)."""

    def skip_reason(self, config: Config) -> str | None:
        """Why this source is not asked at all in this configuration; None when it is."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
