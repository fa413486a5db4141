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

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
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


def decode_value(value: Any) -> Any:
    """JSON-decode `value` if it is a string holding JSON, else return it unchanged."""
    if type(value) is not str:
        return value
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        if value[:1] not in _MAYBE_JSON_ORJSON_REJECTS:
            return value
    else:
        kind = type(decoded)
        if kind is not float and not (
            (kind is dict or kind is list) and _LONG_DIGIT_RUN.search(value)
        ):
            return decoded
    import json  # rarely needed; keeps `import prefect_secrets` light

    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value
