"""`Masker`: one compiled regex that finds every spelling of every registered value, and the
opt-in token patterns, in one pass over a text.

The spellings are compiled as a trie (`a(?:bc|xy)` rather than `abc|axy`), so a search
costs about the depth of the trie per character of text, whatever the number of
values: the cost of masking grows sub-linearly with the number of secrets (figures in
`bench/`). Longer spellings win over the shorter ones they contain.

Identifiers and timestamps are never cut: a match that lies inside a UUID (Prefect's run,
task and event ids) or an ISO 8601 timestamp (an event's `occurred`, a state's
`timestamp`) is left alone unless it is the whole of it, so that a short secret (a port,
`5432`; a PIN, `1234`) cannot corrupt an id or a time on its way to the API, which would
then refuse the event or the state (Prefect drops an event that no longer validates).
"""

from __future__ import annotations

import re

from prefect_secrets._core import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["LONG", "MASK", "Masker", "mask_spans", "trie_pattern"]

MASK = "********"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_OR_DASH = frozenset("0123456789abcdefABCDEF-")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
)
_TIMESTAMP_CHARS = frozenset("0123456789-:.T +Z")
#: (shape, the characters it is made of, its longest length).
_IDENTIFIER_SHAPES = ((_UUID, _HEX_OR_DASH, 36), (_TIMESTAMP, _TIMESTAMP_CHARS, 35))


def trie_pattern(words: Iterable[str]) -> str:
    """A regex source matching any of `words`, longest first, as a trie of prefixes."""
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word

    def emit(node: dict) -> str:  # type: ignore[type-arg]
        ends = "" in node
        branches = [re.escape(char) + emit(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy: the longer spelling first, the word that ends here if nothing longer.
        return f"(?:{body})?" if ends else body

    # The whole pattern is a non-empty alternation: no spelling is empty.
    return emit(root)


# Spellings longer than this are found with `str.find` rather than in the regex: a
# pattern costs time to compile in proportion to its length, and a 1 MB secret would
# cost seconds at each rebuild.
LONG = 256


class Masker:
    """Finds and masks every spelling of every registered value, and the patterns."""

    __slots__ = ("_bytes_pattern", "_long", "_long_bytes", "pattern")

    def __init__(self, spellings: Iterable[str], patterns: Iterable[str] = ()) -> None:
        words = sorted({word for word in spellings if word}, key=len, reverse=True)
        short = [word for word in words if len(word) <= LONG]
        self._long = tuple(word for word in words if len(word) > LONG)  # longest first
        self._long_bytes = tuple(word.encode("utf-8", "surrogatepass") for word in self._long)
        sources = [trie_pattern(short)] if short else []
        sources += [f"(?:{pattern})" for pattern in patterns]
        self.pattern: re.Pattern[str] | None = re.compile("|".join(sources)) if sources else None
        self._bytes_pattern: re.Pattern[bytes] | None = None
        if short:
            encoded = [word.encode("utf-8", "surrogatepass") for word in short]
            self._bytes_pattern = re.compile(_bytes_trie(encoded))

    def found_in(self, text: str) -> bool:
        """Whether `text` holds a registered value (or a pattern)."""
        if self.pattern is not None and self.pattern.search(text) is not None:
            return True
        return any(word in text for word in self._long)

    def mask(self, text: str) -> str:
        """`text` with every registered value (and pattern match) replaced by `********`."""
        # Long values first: a short value inside a long one goes with it.
        for word in self._long:
            if word in text:
                text = text.replace(word, MASK)
        if self.pattern is None:
            return text
        return self.pattern.sub(lambda match: _replacement(match, text), text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where `text` holds what `mask` would mask, as (start, end), on `text` itself."""
        found: list[tuple[int, int]] = []
        for word in self._long:
            start = text.find(word)
            while start != -1:
                found.append((start, start + len(word)))
                start = text.find(word, start + 1)
        if self.pattern is not None:
            for match in self.pattern.finditer(text):
                if match.groupdict().get("secret") is not None:
                    found.append(match.span("secret"))
                elif _replacement(match, text) == MASK:  # not inside a UUID
                    found.append(match.span())
        return found

    def found_in_bytes(self, data: bytes) -> bool:
        """Whether `data` holds a registered value's UTF-8 spelling (a pickle keeps a str's
        UTF-8 bytes as they are; JSON its escapes)."""
        if self._bytes_pattern is not None and self._bytes_pattern.search(data) is not None:
            return True
        return any(word in data for word in self._long_bytes)


def _replacement(match: re.Match[str], text: str) -> str:
    found = match.group()
    secret = match.groupdict().get("secret")
    if secret is not None:  # a pattern that masks one part of what it matches
        start, end = match.span("secret")
        return f"{found[: start - match.start()]}{MASK}{found[end - match.start() :]}"
    if _inside_an_identifier(match, text):
        return found
    return MASK


def _inside_an_identifier(match: re.Match[str], text: str) -> bool:
    """Whether `match` lies inside a UUID or a timestamp of `text` without being all of it:
    an identifier or a time that happens to hold the value's text."""
    found = match.group()
    for shape, characters, longest in _IDENTIFIER_SHAPES:
        if len(found) >= longest or not characters.issuperset(found):
            continue
        start = max(0, match.start() - longest)
        for token in shape.finditer(text, start, match.end() + longest):
            inside = token.start() <= match.start() and match.end() <= token.end()
            if inside and token.span() != match.span():
                return True
    return False


def mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span, and each run of overlapping spans, replaced by one mask."""
    if not spans:
        return text
    parts: list[str] = []
    kept = 0  # text[:kept] is decided
    for start, end in sorted(spans):
        if start >= kept:
            parts.append(text[kept:start])
            parts.append(MASK)
            kept = end
        elif end > kept:  # overlaps the span before: one mask for both
            kept = end
    parts.append(text[kept:])
    return "".join(parts)


def _bytes_trie(words: list[bytes]) -> bytes:
    # The same trie over bytes: latin-1 maps each byte to one character and back.
    source = trie_pattern(word.decode("latin-1") for word in words)
    return source.encode("latin-1")
