"""Finding secret values in stored data without keeping or showing them.

Every string leaf of every secret value is kept only as a keyed hash
(HMAC-SHA256 under a random key made for this run, never written anywhere);
every string leaf of the data scanned is hashed the same way and compared.
Strings that hold JSON are decoded and their leaves compared too, on both
sides, and the words of a longer string (split at blanks and `=:@/,;&?` and
quotes) are compared, so that `--password=VALUE` or `scheme://user:VALUE@host`
is found. Leaves shorter than `MIN_LENGTH` characters are not compared (a
`"user": "etl"` beside a password would match every `etl`). The built-in
token patterns (`patterns.BUILTIN_PATTERNS`) find what no secret here holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

from prefect_secrets._core.patterns import BUILTIN_PATTERNS

__all__ = ["MIN_LENGTH", "Fingerprints", "matching_patterns", "string_leaves"]

#: Shorter leaves are not compared: too many innocent strings would match them.
MIN_LENGTH = 6

_WORDS = re.compile(r"""[\s=:@/,;&?"'`]+""")
_PATTERNS = [(name, re.compile(pattern)) for name, pattern in BUILTIN_PATTERNS.items()]
_MAX_DEPTH = 64


def string_leaves(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, string) for every string leaf of `data`: `env.DB_PASSWORD`,
    `containers[0].args[1]`. A string holding a JSON object, list or string is also
    decoded and its leaves yielded under the same path."""
    yield from _leaves(data, path, 0)


def _leaves(data: Any, path: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(data, dict):
        for key, item in data.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(data, (list, tuple)):
        for index, item in enumerate(data):
            yield from _leaves(item, f"{path}[{index}]", depth + 1)
    elif isinstance(data, str):
        yield path, data
        decoded = _decoded(data)
        if decoded is not None:
            yield from _leaves(decoded, path, depth + 1)


def _decoded(text: str) -> Any:
    """The JSON a string holds (an object, a list or a quoted string), else None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in '{["':
        return None
    try:
        decoded = json.loads(stripped)
    except ValueError:
        return None
    return decoded if isinstance(decoded, (dict, list, str)) else None


def matching_patterns(text: str) -> list[str]:
    """The names of the built-in token patterns that `text` matches."""
    return [name for name, pattern in _PATTERNS if pattern.search(text)]


class Fingerprints:
    """Keyed hashes of secret values, by the label to report (`DB_PASSWORD (env)`)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)  # this run's only; never shown nor stored
        self._labels: dict[bytes, str] = {}
        self.secrets = 0

    def __len__(self) -> int:
        return len(self._labels)

    def _digest(self, text: str) -> bytes:
        data = text.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def add(self, label: str, value: Any) -> None:
        """Remember every string leaf of `value` (JSON strings decoded) under `label`."""
        self.secrets += 1
        for _, leaf in string_leaves(value):
            text = leaf.strip()
            if len(text) >= MIN_LENGTH:
                self._labels.setdefault(self._digest(text), label)

    def match(self, text: str) -> tuple[str, str] | None:
        """("equals", label) when `text` is a secret's value (or one of its leaves), quoted
        or not; ("contains", label) when one of its words is; None otherwise. A JSON
        object or list is not split into words: `string_leaves` yields its leaves."""
        stripped = text.strip()
        if len(stripped) < MIN_LENGTH or not self._labels:
            return None
        label = self._labels.get(self._digest(stripped))
        decoded = _decoded(stripped)
        if label is None and isinstance(decoded, str):  # a quoted (JSON-encoded) value
            label = self._labels.get(self._digest(decoded.strip()))
        if label is not None:
            return "equals", label
        if isinstance(decoded, (dict, list)):
            return None  # its leaves are compared one by one (`string_leaves`)
        for word in _WORDS.split(stripped):
            if len(word) >= MIN_LENGTH and word != stripped:
                label = self._labels.get(self._digest(word))
                if label is not None:
                    return "contains", label
        return None
