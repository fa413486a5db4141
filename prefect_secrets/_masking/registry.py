"""Masking: every value the library hands out is registered here, then replaced by `********`
wherever it could leave the process (log records, what Prefect sends to its API).

`register(value)` is on the hot path of every lookup: for a value that is
already registered it is a type check and a set lookup (~90 ns). The first new
value arms the hooks (`_hooks`): at once for the modules already imported, and
through a `sys.meta_path` watcher for the others, so that a value read before
`import prefect` is masked once Prefect is loaded. `import prefect_secrets`
alone touches nothing.

Strings are masked, and bytes as the text they show up as; numbers and booleans are
not (a secret that decodes to 8443 stays visible; `get(raw=True)` returns the string,
which is masked).
Dicts, lists and tuples are registered leaf by leaf. Values shorter than the
setting `min_mask_length` (default 4) are not masked, with a one-time warning:
masking "a" would mask every "a".

Besides the value itself, every spelling it can take on its way out is masked
(escaped, encoded, line by line, truncated: see `spellings`), with one compiled
regex (`matcher`); so are the opt-in token patterns (`_core.patterns`).
"""

from __future__ import annotations

# _thread, not threading: threading costs ~5 ms to import and only a lock is needed.
from _thread import RLock
from time import monotonic

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.environ import reader
from prefect_secrets._masking.matcher import MASK, Masker, mask_spans
from prefect_secrets._masking.spellings import spellings as spellings_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

__all__ = [
    "MASK",
    "Masker",
    "current_masker",
    "on_first_value",
    "redact",
    "redact_data",
    "register",
    "register_many",
    "registered_values",
]
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
    elif type(value) is bytes:
        register(_text_views(value))


def _text_views(value: bytes) -> tuple[str, ...]:
    """How binary secrets (AWS SecretBinary, a key file) show up in text: as the text they
    decode to, or, when they are not UTF-8, as `print` spells them (`b'...'`'s inside)
    and as base64 (how they are shipped around)."""
    try:
        return (value.decode(),)
    except UnicodeDecodeError:
        from base64 import b64encode

        return (repr(value)[2:-1], b64encode(value).decode())


def _add(value: str) -> None:
    global _armed, _catch_up
    if not _armed:
        with _arming:  # a second thread waits until the hooks are in place
            if not _armed:
                _catch_up = _on_first_value() if _on_first_value is not None else None
                _armed = True
    elif _catch_up is not None:
        _catch_up()
    # Only once the hooks are in place: another thread that registers the same value
    # sees it registered and goes on at once, so it must find everything armed. (A
    # process-pool result unpickled in two threads at once raced here.)
    _registered.add(value)


def on_first_value(arm: Callable[[], Callable[[], None] | None]) -> None:
    """Set what runs when the first value is registered (the package sets `arming.arm`)."""
    global _on_first_value
    _on_first_value = arm


# --- the masker ---------------------------------------------------------------------------------

# (registry size, mask settings, masker). The registry only grows, so its size tells
# whether the masker is current.
_cache: tuple[int, object, Masker | None] = (0, None, None)
_spellings_of: dict[str, frozenset[str]] = {}
_warned_short = False
_building = RLock()


def current_masker() -> Masker | None:
    """The masker of every registered value and pattern, or None when there is nothing to
    mask. Rebuilt on first use after a new value or a changed setting."""
    settings = _mask_settings()
    size = len(_registered)
    if size == 0 and not settings.patterns:
        return None
    cached = _cache
    if cached[0] == size and cached[1] is settings:
        return cached[2]
    with _building:  # one thread builds; the others wait for its masker
        cached = _cache
        if cached[0] == len(_registered) and cached[1] is settings:
            return cached[2]
        return _rebuild(settings)


def registered_values() -> frozenset[str]:
    """Every string registered so far (to hand to another process: see `workers`)."""
    return frozenset(_registered)


def register_many(values: Iterable[str]) -> None:
    """Register each of `values` (strings registered in another process)."""
    for value in values:
        register(value)


def redact(text: str) -> str:
    """`text` with every registered value replaced by `********`."""
    masker = current_masker()
    if masker is None or not masker.found_in(text):
        return text
    return masker.mask(text)


def redact_data(data: Any, masker: Masker | None = None) -> Any:
    """A copy of JSON-like `data` (dicts, lists, tuples, sets, strings) with values masked.

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
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        leaves = [redact_data(leaf, masker) for leaf in data]
        if all(new is old for new, old in zip(leaves, data, strict=True)):
            return data
        return kind(leaves)
    return data


def _rebuild(settings: _MaskSettings) -> Masker | None:
    """A masker of every registered value: the last full one, plus one of the values new
    since, unless those are many (or overlap old ones): then a new full one.

    Compiling costs time in proportion to the spellings (0.2 s for 100 values, 3.5 s
    for 1,000, measured): recompiling everything at each new value would make a flow
    that reads secrets one by one pay that again and again.
    """
    global _cache, _full, _warned_short
    values = {value for value in _registered if len(value) >= settings.min_length}
    short = len(values) < len(_registered)
    full_values, full = _full[:2] if _full[2] is settings else (frozenset(), None)
    new = values - full_values
    if new and (len(new) > max(16, len(full_values) // 4) or _overlap(new, full_values)):
        full_values, full = frozenset(values), _masker_of(values, settings.patterns)
        new = set()
    elif full is None and settings.patterns:
        full = Masker((), settings.patterns)
    _full = (full_values, full, settings)
    masker = _Layered(full, _masker_of(new, ())) if new else full
    _cache = (len(_registered), settings, masker)
    if short and not _warned_short:
        _warned_short = True  # before logging: the log record comes back through here
        _warn_short(settings.min_length)
    return masker


# (the values, their masker, the settings it was built with)
_full: tuple[frozenset[str], Masker | None, object] = (frozenset(), None, None)


def _masker_of(values: Iterable[str], patterns: tuple[str, ...]) -> Masker | None:
    spellings: set[str] = set()
    for value in values:
        known = _spellings_of.get(value)
        if known is None:
            known = _spellings_of[value] = spellings_of(value)
        spellings.update(known)
    return Masker(spellings, patterns) if spellings or patterns else None


def _overlap(new: set[str], old: frozenset[str]) -> bool:
    """Whether a new value contains an old one or the other way round: one masker must
    then see both, so that the longer is masked whole."""
    return any(a in b or b in a for a in new for b in old)


class _Layered(Masker):
    """The full masker and the one of the values new since: what either finds is masked."""

    __slots__ = ("_layers",)

    def __init__(self, *layers: Masker | None) -> None:
        self._layers = tuple(layer for layer in layers if layer is not None)

    def found_in(self, text: str) -> bool:
        return any(layer.found_in(text) for layer in self._layers)

    def mask(self, text: str) -> str:
        # On the text as it is, then merged: masking one layer first would cut a value of
        # the other in pieces (an old value's PEM armour line inside a new key), which
        # are then masked one by one rather than whole.
        return mask_spans(text, [span for layer in self._layers for span in layer.spans(text)])

    def found_in_bytes(self, data: bytes) -> bool:
        return any(layer.found_in_bytes(data) for layer in self._layers)


class _MaskSettings:
    """The settings masking depends on, as last read (compared by identity)."""

    __slots__ = ("min_length", "patterns")

    def __init__(self, min_length: int, patterns: tuple[str, ...]) -> None:
        self.min_length = min_length
        self.patterns = patterns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MaskSettings) and (self.min_length, self.patterns) == (
            other.min_length,
            other.patterns,
        )

    def __hash__(self) -> int:
        return hash((self.min_length, self.patterns))


_DEFAULTS = _MaskSettings(_DEFAULT_MIN_MASK_LENGTH, ())
# The env vars that decide the masking settings (directly, or where the file is).
_SETTING_ENV_VARS = (
    "PREFECT_SECRETS_MIN_MASK_LENGTH",
    "PREFECT_SECRETS_MASK_PATTERNS",
    "PREFECT_SECRETS_MASK_REGEXES",
    "PREFECT_SECRETS_CONFIG",
    "XDG_CONFIG_HOME",
    "HOME",
)
_read_setting_env_vars = reader(_SETTING_ENV_VARS)
# (those env values, when the file was last looked at, the settings then)
_setting: tuple[tuple[object, ...], float, _MaskSettings] = ((), 0.0, _DEFAULTS)
_SETTING_FILE_RECHECK = 1.0  # seconds


def _mask_settings() -> _MaskSettings:
    """The settings, read at most once a second unless their env vars change.

    This runs for every log record: statting the config file each time would
    cost several microseconds. An edit of the file applies within a second.
    """
    global _setting
    env = _read_setting_env_vars()
    now = monotonic()
    cached = _setting
    if cached[0] == env and now - cached[1] < _SETTING_FILE_RECHECK:
        return cached[2]
    # Read without `SourceConfig().settings`, which may warn about file permissions:
    # this runs inside logging filters, where a warning could come back here.
    # A broken setting must not break logging: the defaults apply until it is
    # fixed (lookups report the broken setting themselves).
    from prefect_secrets._config.file import config_file, config_path
    from prefect_secrets._config.settings import load_settings
    from prefect_secrets._core.patterns import BUILTIN_PATTERNS

    try:
        settings = load_settings(config_file(config_path()).read())
        patterns = tuple(BUILTIN_PATTERNS[name] for name in settings.mask_patterns or ())
        read = _MaskSettings(settings.min_mask_length, patterns + (settings.mask_regexes or ()))
    except Exception:  # noqa: BLE001 - see above
        read = _DEFAULTS
    # The same object while nothing changed: the masker cache compares identity.
    settings_now = cached[2] if read == cached[2] else read
    _setting = (env, now, settings_now)
    return settings_now


def _warn_short(min_length: int) -> None:
    import logging

    logging.getLogger("prefect_secrets").warning(
        "prefect-secrets: a secret value (or a string inside a dict or list secret) is "
        "shorter than min_mask_length=%d characters and is not masked: masking so short a "
        "text would mask it everywhere. Set PREFECT_SECRETS_MIN_MASK_LENGTH to change the "
        "minimum. (Shown once.)",
        min_length,
    )
