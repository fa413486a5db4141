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
import sys
from collections.abc import Callable

__all__ = ["getenv", "reader", "snapshot"]


def _slow_getenv(key: str) -> str | None:
    return os.environ.get(key)


def _slow_snapshot(keys: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(os.environ.get(key) for key in keys)


def _make_fast_readers() -> tuple[
    Callable[[str], str | None], Callable[[tuple[str, ...]], tuple[object, ...]]
]:
    environ = os.environ
    data = getattr(environ, "_data", None)
    encodekey = getattr(environ, "encodekey", None)
    decodevalue = getattr(environ, "decodevalue", None)
    if not (isinstance(data, dict) and callable(encodekey) and callable(decodevalue)):
        return _slow_getenv, _slow_snapshot
    # os.environ decodes values with the filesystem encoding and surrogateescape
    # (on POSIX); doing the same inline saves a Python call per read.
    encoding = sys.getfilesystemencoding()
    if decodevalue(encodekey("\udcff-é")) != "\udcff-é":  # pragma: no cover - not POSIX-like
        return _slow_getenv, _slow_snapshot
    encoded_keys: dict[str, object] = {}
    encoded_key_sets: dict[tuple[str, ...], tuple[object, ...]] = {}

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
        return None if raw is None else raw.decode(encoding, "surrogateescape")

    def fast_snapshot(keys: tuple[str, ...]) -> tuple[object, ...]:
        if os.environ is not environ:
            return _slow_snapshot(keys)
        encoded = encoded_key_sets.get(keys)
        if encoded is None:
            encoded = encoded_key_sets[keys] = tuple(map(encodekey, keys))
        return tuple(map(data.get, encoded))

    return fast_getenv, fast_snapshot


_getenv, _snapshot = _make_fast_readers()


def reader(keys: tuple[str, ...]) -> Callable[[], tuple[object, ...]]:
    """A function of no arguments returning what `snapshot(keys)` returns.

    For the one read every lookup makes (`_config.lookup.HOT_ENV_VARS`): the
    keys are encoded once and read with one `dict.get` each, spelled out, which
    costs half of `tuple(map(data.get, keys))` for five keys (1.7k against 3.6k
    instructions, measured with callgrind). The code is generated from the
    number of keys only.
    """
    environ = os.environ
    data = getattr(environ, "_data", None)
    encodekey = getattr(environ, "encodekey", None)
    if _getenv is _slow_getenv or not isinstance(data, dict) or not callable(encodekey):
        return lambda: _slow_snapshot(keys)
    names = {f"k{index}": encodekey(key) for index, key in enumerate(keys)}
    reads = "".join(f"get({name}), " for name in names)
    namespace = {"get": data.get, "os": os, "environ": environ, "slow": _slow_snapshot, **names}
    # A program that rebinds os.environ gets the slow, always-right path.
    source = f"lambda: ({reads}) if os.environ is environ else slow(keys)"
    read: Callable[[], tuple[object, ...]] = eval(source, {**namespace, "keys": keys})
    return read


#: `getenv(key) -> str | None`, equivalent to `os.environ.get(key)`.
getenv: Callable[[str], str | None] = _getenv

#: `snapshot(keys)`: the raw values of a fixed set of env vars, for use as a
#: cache key (equal tuples mean equal values; None where unset). One C-level
#: pass instead of one Python call per variable.
snapshot: Callable[[tuple[str, ...]], tuple[object, ...]] = _snapshot
