"""Reading environment variables on the hot path.

`os.environ.get(key)` costs about 0.4 us for a present key and 1 us for an
absent one (it raises and catches KeyError inside `os._Environ`); a secret
lookup from the environment reads several variables, and the goal for the
whole lookup is 3x `orjson.loads(os.environ[...])`. So on CPython we read the
mapping that `os.environ` keeps in sync with the process environment
(`os.environ._data`, keys encoded with `os.environ.encodekey`) directly. Every
write through `os.environ` (including pytest's monkeypatch) updates that
mapping; `tests/test_environ.py` pins this down so that a Python release that
changes it fails loudly, and anything unexpected falls back to `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["getenv"]


def _slow_getenv(key: str) -> str | None:
    return os.environ.get(key)


def _make_fast_getenv() -> Callable[[str], str | None]:
    environ = os.environ
    data = getattr(environ, "_data", None)
    encodekey = getattr(environ, "encodekey", None)
    decodevalue = getattr(environ, "decodevalue", None)
    if not (isinstance(data, dict) and callable(encodekey) and callable(decodevalue)):
        return _slow_getenv
    encoded_keys: dict[str, object] = {}

    def fast_getenv(key: str) -> str | None:
        # A program that rebinds os.environ gets the slow, always-right path.
        if os.environ is not environ:
            return os.environ.get(key)
        encoded = encoded_keys.get(key)
        if encoded is None:
            encoded = encodekey(key)
            if len(encoded_keys) < 4096:
                encoded_keys[key] = encoded
        raw = data.get(encoded)
        return None if raw is None else decodevalue(raw)

    return fast_getenv


#: `getenv(key) -> str | None`, equivalent to `os.environ.get(key)`.
getenv: Callable[[str], str | None] = _make_fast_getenv()
