"""How a setting's text (an env var) or TOML value becomes its value: one parser per kind.

Each raises `ValueError` saying what was expected; `settings` turns that into a
`SettingsError` naming the env var, or the file, line and key.
"""

from __future__ import annotations

import os

from prefect_secrets._core import TYPE_CHECKING
from prefect_secrets._core.names import SCOPE_RULE, validate_scope

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "SERVER_MODES",
    "parse_bool",
    "parse_count",
    "parse_dirs",
    "parse_mask_length",
    "parse_mask_patterns",
    "parse_mask_regexes",
    "parse_number",
    "parse_path",
    "parse_seconds",
    "parse_server",
    "parse_sources",
    "parse_ttl",
    "scope_parser",
    "string_list",
]


SERVER_MODES = ("auto", "always", "never")


def parse_server(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in SERVER_MODES:
        return value.strip().lower()
    raise ValueError("expected one of 'auto', 'always', 'never'")


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    raise ValueError("expected true or false")


def parse_path(value: object) -> str | None:
    if not isinstance(value, str):
        raise ValueError('expected a path, or "" to turn it off')
    return os.path.expanduser(value) if value else None


def parse_number(value: object, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(expected)
    try:
        return float(value)
    except ValueError:
        raise ValueError(expected) from None


def parse_seconds(value: object) -> float:
    seconds = parse_number(value, "expected a number of seconds")
    # NaN fails every comparison, so it fails this one too.
    if not 0 < seconds < float("inf"):
        raise ValueError("expected a finite number of seconds greater than 0")
    return seconds


def parse_ttl(value: object) -> float:
    seconds = parse_number(value, "expected a number of seconds, 0 or more")
    if not 0 <= seconds < float("inf"):
        raise ValueError("expected a finite number of seconds, 0 or more (0 turns it off)")
    return seconds


def parse_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("expected a whole number, 0 or more")
    try:
        count = int(value)
    except ValueError:
        raise ValueError("expected a whole number, 0 or more") from None
    if count < 0:
        raise ValueError("expected a whole number, 0 or more")
    return count


def parse_mask_length(value: object) -> int:
    length = parse_count(value)
    if length < 1:
        raise ValueError("expected a whole number, 1 or more")
    return length


def scope_parser(what: str) -> Callable[[object], str | None]:
    def parse(value: object) -> str | None:
        if not isinstance(value, str):
            raise ValueError(f'expected a {what} name, or "" for none')
        if not value:
            return None
        try:
            return validate_scope(value, what=what)
        except ValueError:
            raise ValueError(f"{what} names are {SCOPE_RULE}") from None

    return parse


def string_list(value: object, separator: str, what: str) -> list[str]:
    """A TOML array, or an env var's JSON array or `separator`-separated text."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"is empty: write [] for no {what}")
        if text.startswith("["):
            import json

            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError(f'expected a JSON array of {what}, like ["a", "b"]') from None
        else:
            return [item.strip() for item in text.split(separator) if item.strip()]
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return list(value)
    raise ValueError(f"expected a list of {what}")


def parse_dirs(value: object) -> tuple[str, ...]:
    dirs = tuple(os.path.expanduser(item) for item in string_list(value, os.pathsep, "dirs"))
    for directory in dirs:
        if not os.path.isabs(directory):
            raise ValueError(f"{directory!r} is not an absolute path")
    return dirs


def parse_mask_patterns(value: object) -> tuple[str, ...]:
    from prefect_secrets._core.patterns import BUILTIN_PATTERNS

    names = tuple(string_list(value, ",", "pattern names"))
    for name in names:
        if name not in BUILTIN_PATTERNS:
            known = ", ".join(BUILTIN_PATTERNS)
            raise ValueError(
                f"{name!r} is not a built-in pattern (known: {known}; your own go in mask_regexes)"
            )
    return names


def parse_mask_regexes(value: object) -> tuple[str, ...]:
    import re

    regexes = tuple(string_list(value, "\n", "regular expressions"))
    for regex in regexes:
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise ValueError(f"{regex!r} is not a valid regular expression ({exc})") from None
        if compiled.groupindex:
            raise ValueError(f"{regex!r} has a named group: use (?:...) instead")
        if compiled.match(""):
            raise ValueError(f"{regex!r} matches the empty string: it would mask everywhere")
    return regexes


def parse_sources(value: object) -> tuple[str, ...]:
    # Which kinds exist (plug-ins included) is the registry's business; here only the shape.
    kinds = tuple(string_list(value, ",", "source kinds"))
    if not kinds:
        raise ValueError("expected at least one source kind")
    for kind in kinds:
        if kinds.count(kind) > 1:
            raise ValueError(f"{kind!r} is listed twice")
    return kinds
