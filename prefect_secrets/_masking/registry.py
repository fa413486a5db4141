"""Masking: every value the library hands out is registered here, then replaced by `********`
wherever it could leave the process (log records, what Prefect sends to its API).

`register(value)` is on the hot path of every lookup: for a value that is
already registered it is a type check and a set lookup (~90 ns). The first new
value arms the hooks (`_hooks`): at once for the modules already imported, and
through a `sys.meta_path` watcher for the others, so that a value read before
`import prefect` is masked once Prefect is loaded. `import prefect_secrets`
alone touches nothing.

Strings are masked; numbers and booleans are not (a secret that decodes to
8443 stays visible; `get(raw=True)` returns the string, which is masked).
Dicts, lists and tuples are registered leaf by leaf. Values shorter than the
setting `min_mask_length` (default 4) are not masked, with a one-time warning:
masking "a" would mask every "a".

Besides the value itself, its escaped spellings are masked: `repr()`/`%r`
(backslashes, quotes, control characters) and JSON (`\\"`, `\\n`, `\\u00e9`),
since that is how a value inside a dict or a request body gets written.
"""

from __future__ import annotations

import re

# _thread, not threading: threading costs ~5 ms to import and only a lock is needed.
from _thread import RLock
from time import monotonic

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import snapshot

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "MASK",
    "Masker",
    "current_masker",
    "on_first_value",
    "redact",
    "redact_data",
    "register",
]

MASK = "********"
_DEFAULT_MIN_MASK_LENGTH = 4

_registered: set[str] = set()
_armed = False
_arming = RLock()
# Called (once, under `_arming`) when the first value is registered: plugs masking into
# logging and Prefect (`arming.arm`, wired up by the package, which owns both modules).
_on_first_value: Callable[[], Callable[[], None] | None] | None = None
# Returned by the above: catches up with hooked modules imported since (None: none pending).
_catch_up: Callable[[], None] | None = None


def register(value: Any) -> None:
    """Remember `value` (each string leaf of it) as secret. On the hot path of every get."""
    if type(value) is str:
        if value not in _registered:
            _add(value)
    elif isinstance(value, dict):
        for leaf in value.values():
            register(leaf)
    elif isinstance(value, (list, tuple)):
        for leaf in value:
            register(leaf)


def _add(value: str) -> None:
    global _armed, _catch_up
    _registered.add(value)
    if not _armed:
        with _arming:  # a second thread waits until the hooks are in place
            if not _armed:
                _catch_up = _on_first_value() if _on_first_value is not None else None
                _armed = True
    elif _catch_up is not None:
        _catch_up()


def on_first_value(arm: Callable[[], Callable[[], None] | None]) -> None:
    """Set what runs when the first value is registered (the package sets `arming.arm`)."""
    global _on_first_value
    _on_first_value = arm


# --- the masker ---------------------------------------------------------------------------------

# Values longer than this are found with `str.find` rather than in the regex:
# compiling a pattern costs time in proportion to its length, and it is
# recompiled after each new value (a 1 MB secret would cost seconds each time).
_LONG_VALUE = 256


class Masker:
    """Finds and masks every spelling of every registered value that is long enough."""

    __slots__ = ("long", "pattern")

    def __init__(self, pattern: re.Pattern[str] | None, long: tuple[str, ...]) -> None:
        self.pattern = pattern
        self.long = long  # longest first

    def found_in(self, text: str) -> bool:
        """Whether `text` holds a registered value."""
        if self.pattern is not None and self.pattern.search(text) is not None:
            return True
        return any(spelling in text for spelling in self.long)

    def mask(self, text: str) -> str:
        """`text` with every registered value replaced by `********`."""
        # Long values first: a short value inside a long one goes with it.
        for spelling in self.long:
            if spelling in text:
                text = text.replace(spelling, MASK)
        if self.pattern is not None:
            text = self.pattern.sub(MASK, text)
        return text


# (registry size, min_mask_length, masker). The registry only grows, so its
# size tells whether the masker is current.
_cache: tuple[int, int, Masker | None] = (0, _DEFAULT_MIN_MASK_LENGTH, None)
_spellings_of: dict[str, frozenset[str]] = {}
_warned_short = False


def current_masker() -> Masker | None:
    """The masker of every registered value, or None when there is nothing to mask."""
    size = len(_registered)
    if size == 0:
        return None
    min_length = _min_mask_length()
    cached = _cache
    if cached[0] == size and cached[1] == min_length:
        return cached[2]
    return _rebuild(min_length)


def redact(text: str) -> str:
    """`text` with every registered value replaced by `********`."""
    masker = current_masker()
    if masker is None or not masker.found_in(text):
        return text
    return masker.mask(text)


def redact_data(data: Any, masker: Masker | None = None) -> Any:
    """A copy of JSON-like `data` (dicts, lists, tuples, strings) with values masked.

    Returns `data` itself when nothing is masked; never changes it in place
    (the same objects may be what task code holds).
    """
    if masker is None:
        masker = current_masker()
        if masker is None:
            return data
    kind = type(data)
    if kind is str:
        return masker.mask(data) if masker.found_in(data) else data
    if kind is dict:
        items = [(redact_data(k, masker), redact_data(v, masker)) for k, v in data.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, data.items(), strict=True)):
            return data
        return dict(items)
    if kind is list or kind is tuple:
        leaves = [redact_data(leaf, masker) for leaf in data]
        if all(new is old for new, old in zip(leaves, data, strict=True)):
            return data
        return kind(leaves)
    return data


def _rebuild(min_length: int) -> Masker | None:
    global _cache, _warned_short
    values = list(_registered)
    short = False
    spellings: set[str] = set()
    for value in values:
        if len(value) < min_length:
            short = True
            continue
        known = _spellings_of.get(value)
        if known is None:
            known = _spellings_of[value] = _spellings(value)
        spellings.update(known)
    masker = None
    if spellings:
        # Longest first: where two values overlap, the longer one is masked whole.
        ordered = sorted(spellings, key=len, reverse=True)
        long = tuple(s for s in ordered if len(s) > _LONG_VALUE)
        regular = [re.escape(s) for s in ordered if len(s) <= _LONG_VALUE]
        masker = Masker(re.compile("|".join(regular)) if regular else None, long)
    _cache = (len(values), min_length, masker)
    if short and not _warned_short:
        _warned_short = True  # before logging: the log record comes back through here
        _warn_short(min_length)
    return masker


def _spellings(value: str) -> frozenset[str]:
    """The value, and how repr() and JSON write it inside quotes."""
    import json  # only when a new value is first masked

    return frozenset(
        (
            value,
            repr(value)[1:-1],
            ascii(value)[1:-1],
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
        )
    )


# The env vars that decide min_mask_length (directly, or where the file is).
_SETTING_ENV_VARS = (
    "PREFECT_SECRETS_MIN_MASK_LENGTH",
    "PREFECT_SECRETS_CONFIG",
    "XDG_CONFIG_HOME",
    "HOME",
)
# (those env values, when the file was last looked at, min_mask_length)
_setting: tuple[tuple[object, ...], float, int] = ((), 0.0, _DEFAULT_MIN_MASK_LENGTH)
_SETTING_FILE_RECHECK = 1.0  # seconds


def _min_mask_length() -> int:
    """The setting, read at most once a second unless its env vars change.

    This runs for every log record: statting the config file each time would
    cost several microseconds. An edit of the file applies within a second.
    """
    global _setting
    env = snapshot(_SETTING_ENV_VARS)
    now = monotonic()
    cached = _setting
    if cached[0] == env and now - cached[1] < _SETTING_FILE_RECHECK:
        return cached[2]
    # Read without `Config().settings`, which may warn about file permissions:
    # this runs inside logging filters, where a warning could come back here.
    # A broken setting must not break logging: the default applies until it is
    # fixed (lookups report the broken setting themselves).
    from prefect_secrets._config.file import config_file, config_path
    from prefect_secrets._config.settings import load_settings

    try:
        length: int = load_settings(config_file(config_path()).read()).min_mask_length
    except Exception:  # noqa: BLE001 - see above
        length = _DEFAULT_MIN_MASK_LENGTH
    _setting = (env, now, length)
    return length


def _warn_short(min_length: int) -> None:
    import logging

    logging.getLogger("prefect_secrets").warning(
        "prefect-secrets: a secret value (or a string inside a dict or list secret) is "
        "shorter than min_mask_length=%d characters and is not masked: masking so short a "
        "text would mask it everywhere. Set PREFECT_SECRETS_MIN_MASK_LENGTH to change the "
        "minimum. (Shown once.)",
        min_length,
    )
