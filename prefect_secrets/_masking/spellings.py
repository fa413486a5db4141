"""Every spelling a value can take on its way out, so that masking finds it in any of them.

| spelling                         | how a value gets written that way                         |
|----------------------------------|-----------------------------------------------------------|
| the value                        | logs, f-strings, `print`                                  |
| escaped, up to 3 levels deep     | `repr`/`%r`, `ascii`, JSON with and without ensure_ascii, |
|                                  | and each of those of each other: Prefect logs             |
|                                  | `{exc!r}` of a message that holds a repr, and stores the  |
|                                  | JSON of that                                              |
| `bytes` repr                     | `b'...\\xc3\\xa9...'` of the value encoded                |
| URL-quoted                       | `quote`, `quote_plus` (httpx's query parameters),         |
|                                  | `quote(safe="")`                                          |
| base64 (standard and URL-safe)   | of the value, and of the value inside a longer text in    |
|                                  | each of the three alignments (`Basic base64(user:pw)`)    |
| hex                              | `value.encode().hex()`, upper and lower                   |
| HTML-escaped                     | markdown artifacts rendered                               |
| each line of a multi-line value  | a PEM key or a JSON document printed line by line         |
| pydantic's truncated input       | `input_value='<first 24>...<last 23>'` of ValidationError |
| the first and last 20 characters | of a long value (and of its escaped forms): what a        |
|                                  | truncation keeps                                          |

Spellings shorter than the value's own minimum are dropped (see `registry`):
masking a 3-character line would mask it everywhere.
"""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

__all__ = ["FRAGMENT", "spellings"]

#: Characters of a long value's start and end that are masked on their own.
FRAGMENT = 20
_ESCAPE_DEPTH = 3
_MIN_LINE = 8
_MIN_ENCODED = 12


def _repr_inner(text: str) -> str:
    return repr(text)[1:-1]


def _ascii_inner(text: str) -> str:
    return ascii(text)[1:-1]


def _json_inner(text: str) -> str:
    return json.dumps(text)[1:-1]


def _json_u_inner(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


_ESCAPES = (_repr_inner, _ascii_inner, _json_inner, _json_u_inner)


def _escaped(value: str) -> set[str]:
    """The value and its escapes, nested up to `_ESCAPE_DEPTH` levels (deduplicated)."""
    found = {value}
    level = {value}
    for _ in range(_ESCAPE_DEPTH):
        level = {escape(text) for text in level for escape in _ESCAPES} - found
        if not level:
            break
        found |= level
    return found


def _base64_runs(raw: bytes) -> set[str]:
    """Base64 of `raw` alone, and the characters that depend only on `raw` when it sits
    at any of the three byte alignments inside a longer encoded text."""
    runs: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        runs.add(encode(raw).decode())
        runs.add(encode(raw).decode().rstrip("="))
        for offset in (1, 2):
            encoded = encode(b"\0" * offset + raw + b"\0\0").decode()
            start = -(-8 * offset // 6)  # the first character made of `raw`'s bits only
            end = (8 * (offset + len(raw))) // 6
            runs.add(encoded[start:end])
        runs.add(encode(raw + b"\0\0").decode()[: (8 * len(raw)) // 6])
    return {run for run in runs if len(run) >= _MIN_ENCODED}


def spellings(value: str) -> frozenset[str]:
    """Every spelling of `value` this library masks (see the module docstring)."""
    found = _escaped(value)
    raw = value.encode("utf-8", "surrogatepass")
    found.add(repr(raw)[2:-1])
    found.update((quote(value), quote(value, safe=""), quote_plus(value)))
    found.update(_base64_runs(raw))
    for encoded in (raw.hex(), raw.hex().upper()):
        if len(encoded) >= _MIN_ENCODED:
            found.add(encoded)
    found.add(html.escape(value))
    if "\n" in value:
        found.update(
            line for line in (line.strip() for line in value.splitlines()) if len(line) >= _MIN_LINE
        )
    text = repr(value)
    if len(text) > 50:  # pydantic-core shows 24 + "..." + 23 characters of a longer repr
        found.add(f"{text[1:25]}...{text[-24:-1]}")
    if len(value) >= 2 * FRAGMENT:
        for escaped in _escaped(value):
            found.update((escaped[:FRAGMENT], escaped[-FRAGMENT:]))
    return frozenset(found)
