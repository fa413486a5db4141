"""How stored values become the values `get()` returns.

A string is JSON-decoded when it parses as JSON and returned unchanged
otherwise: `'42'` -> 42, `'"42"'` -> "42", `'{"user": "u"}'` -> dict,
`'not json'` -> 'not json'. This is what Prefect 1 and Prefect 3's `Secret`
block do. Nothing else happens to a value: no `$VAR` or `~` expansion, no
interpolation, no `ast.literal_eval`. Non-strings (TOML tables, numbers,
values put in the context) are returned as they are. `get(raw=True)` skips
the decoding.
"""

from __future__ import annotations

import re

import orjson

from prefect_secrets._core import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

__all__ = ["decode_value"]

# orjson is 5-10x faster than json on the hot path, but it differs from the
# json.loads that Prefect's Secret block uses: it turns integers beyond 64
# bits into floats (silently losing digits), and rejects NaN, Infinity and
# lone surrogate escapes. The slower json.loads runs only when one of those
# can be at play: orjson failed on something that may be JSON, returned a
# float, or returned a container whose text holds a 19-digit run.
_MAYBE_JSON_ORJSON_REJECTS = frozenset('-0123456789NI[{" \t\r\n')
_LONG_DIGIT_RUN = re.compile(r"\d{19}")


# What a JSON text can start with: most JSON values start with one of the
# first set; words and numbers' oddities with the second. Most passwords and
# tokens start with something else and are returned without a parse attempt
# (a failed orjson parse builds a JSONDecodeError: 5x a successful parse).
_JSON_START = frozenset('"{[-0123456789')
_JSON_RARE_START = frozenset("tfnNI \t\r\n")
_JSON_WORDS = frozenset(("true", "false", "null"))
_PLAIN_RESULTS = frozenset((str, int, bool, type(None)))


def decode_value(value: Any) -> Any:
    """JSON-decode `value` if it is a string holding JSON, else return it unchanged."""
    if type(value) is not str:
        return value
    # The same stored string decodes to the same value; immutable results are
    # remembered (a mutable dict or list is decoded afresh for every caller).
    known = _decoded.get(value, _UNKNOWN)
    if known is not _UNKNOWN:
        return known
    decoded = _decode(value)
    if type(decoded) in _PLAIN_RESULTS and len(_decoded) < _DECODED_LIMIT:
        _decoded[value] = decoded
    return decoded


_UNKNOWN = object()
_DECODED_LIMIT = 1024
_decoded: dict[str, Any] = {}


def _decode(value: str) -> Any:
    first = value[:1]
    if first not in _JSON_START:
        if first not in _JSON_RARE_START:
            return value
        if first in "tfn" and value.strip() not in _JSON_WORDS:
            return value
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        if first not in _MAYBE_JSON_ORJSON_REJECTS:
            return value
    else:
        kind = type(decoded)
        if kind in _PLAIN_RESULTS or (kind is not float and not _LONG_DIGIT_RUN.search(value)):
            return decoded
    import json  # rarely needed; keeps `import prefect_secrets` light

    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value
