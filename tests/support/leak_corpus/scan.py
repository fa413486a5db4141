"""The corpus scanner: every reversible spelling of every value, in every byte left behind.

Extends the approach of `tests/support/leak_scan.py` (plain bytes, then inside
base64 runs) with what a reader can turn back into the secret:

- escaped spellings, nested up to three levels: `repr()`, `ascii()`, JSON with
  and without `ensure_ascii`, in any order (a repr inside an exception's repr,
  inside a JSON event payload: `json(repr(repr(value)))`);
- the repr of the value's UTF-8 bytes (`b'...\\xc3\\xa9...'`), its hex;
- URL-quoted (`quote`, `quote_plus`), base64 (standard and URL-safe) of the
  value and of `user:password` (`Authorization: Basic`);
- each line of a multi-line value longer than 8 characters, and fragments of
  20 characters from the start and the end of a value and of its repr (what
  pydantic's `input_value='eyJ...'` and Prefect's truncation keep);
- decoded views of base64 runs (standard and URL-safe, any alignment), and of
  zlib/gzip/bz2/lzma blobs inside them (Prefect's `compressed/...` serializers),
  and stdout/stderr with ANSI colour codes removed;
- file names (a result storage key can be one).

All needles (several thousand) are searched in one pass with a regex built as
a radix trie (longest match first), so the whole server database is scanned in
about a second. A needle that two owners share (the PEM header line) is
dropped, so every hit is attributable to one pathway, mode and value.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import json
import lzma
import re
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from urllib.parse import quote, quote_plus

__all__ = ["Hit", "Needles", "Owner", "Scanner", "files_under", "spellings"]

MIN_NEEDLE = 8  # bytes; shorter strings would match by chance
FRAGMENT = 20  # characters kept from the start or the end of a value
_ESCAPES: dict[str, Callable[[str], str]] = {
    "repr": lambda s: repr(s)[1:-1],
    "ascii": lambda s: ascii(s)[1:-1],
    "json": lambda s: json.dumps(s)[1:-1],
    "json-u": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
}
_ESCAPE_DEPTH = 3


@dataclass(frozen=True)
class Owner:
    """Whose needle: a pathway, a mode, a value label, and which spelling."""

    pathway: str
    mode: str
    label: str
    kind: str


@dataclass(frozen=True)
class Hit:
    owner: Owner
    place: str
    count: int


@lru_cache(maxsize=1)
def _shape_spellings() -> frozenset[str]:
    """Spellings that two fresh values of one shape share (a PEM's armour lines, and the
    first and last 20 characters of every PEM): the shape's, not a value's. Left out,
    they cannot match what another test (the main corpus's control) left on the shared
    server, so a hit always names a value."""
    from tests.support.leak_corpus.values import SHAPES

    shared: set[str] = set()
    for make in SHAPES.values():
        first, second = make(), make()
        found = [
            {spelling for text in value.sensitive for spelling in _all_spellings(text, value.user)}
            for value in (first, second)
        ]
        shared |= found[0] & found[1]
    return frozenset(shared)


def spellings(text: str, user: str | None = None) -> dict[str, str]:
    """Every reversible spelling of `text` that is long enough to search and belongs to this
    value, not to its shape: {spelling: kind}."""
    shared = _shape_spellings()
    return {k: v for k, v in _all_spellings(text, user).items() if k not in shared}


def _all_spellings(text: str, user: str | None = None) -> dict[str, str]:
    """Every reversible spelling of `text` that is long enough to search: {spelling: kind}."""
    found: dict[str, str] = {}

    def add(spelling: str, kind: str) -> None:
        if len(spelling.encode()) >= MIN_NEEDLE and spelling not in found:
            found[spelling] = kind

    add(text, "plain")
    # Escapes, nested: each level escapes every distinct spelling of the level before.
    level = {text: "plain"}
    for _ in range(_ESCAPE_DEPTH):
        nxt: dict[str, str] = {}
        for spelled, kind in level.items():
            for name, escape in _ESCAPES.items():
                out = escape(spelled)
                label = name if kind == "plain" else f"{kind}>{name}"
                if out not in found and out not in nxt:
                    nxt[out] = label
        for spelled, kind in nxt.items():
            add(spelled, kind)
        level = nxt
    raw = text.encode()
    add(repr(raw)[2:-1], "bytes-repr")
    add(raw.hex(), "hex")
    add(quote(text, safe=""), "url-quote")
    add(quote(text), "url-quote")
    add(quote_plus(text), "url-quote-plus")
    add(base64.b64encode(raw).decode().rstrip("="), "base64")
    add(base64.urlsafe_b64encode(raw).decode().rstrip("="), "base64url")
    if user:
        basic = f"{user}:{text}".encode()
        add(base64.b64encode(basic).decode().rstrip("="), "base64(user:password)")
    if "\n" in text:
        for line in text.splitlines():
            if len(line) > 8:
                add(line, "line")
    for base, name in ((text, ""), (repr(text)[1:-1], "repr "), (json.dumps(text)[1:-1], "json ")):
        if len(base) > FRAGMENT:
            add(base[:FRAGMENT], f"{name}start fragment")
            add(base[-FRAGMENT:], f"{name}end fragment")
    return found


class Needles:
    """Needles of many owners, compiled into one regex; shared needles are dropped."""

    def __init__(self) -> None:
        self._owners: dict[bytes, Owner | None] = {}

    def add(self, owner_of: Callable[[str], Owner], text: str, user: str | None = None) -> None:
        for spelling, kind in spellings(text, user).items():
            needle = spelling.encode()
            owner = owner_of(kind)
            known = self._owners.get(needle, owner)
            if known is not None and known.pathway == owner.pathway and known.mode == owner.mode:
                # The same spelling twice for one owner (e.g. a line of a PEM that is
                # also a fragment): keep the first kind.
                self._owners.setdefault(needle, owner)
            else:
                self._owners[needle] = None  # shared between owners: not attributable

    def compile(self) -> tuple[re.Pattern[bytes], dict[bytes, Owner]]:
        owners = {n: o for n, o in self._owners.items() if o is not None}
        pattern = _trie_regex(sorted(owners))
        return re.compile(pattern, re.DOTALL), owners


def _common_prefix(items: list[bytes]) -> bytes:
    first, last = min(items), max(items)  # the sorted extremes share the common prefix
    n = 0
    while n < len(first) and n < len(last) and first[n] == last[n]:
        n += 1
    return first[:n]


def _trie_regex(needles: list[bytes]) -> bytes:
    """A regex matching any of the sorted, unique `needles`, longest first, as a radix trie.

    Python's `re` tries alternatives one by one; as a trie, each position costs
    one test per distinct first byte instead of one per needle.
    """
    terminal = bool(needles) and needles[0] == b""
    rest = needles[1:] if terminal else needles
    alternatives = []
    for _, group_iter in groupby(rest, key=lambda n: n[0]):
        group = list(group_iter)
        if len(group) == 1:
            alternatives.append(re.escape(group[0]))
            continue
        prefix = _common_prefix(group)
        tails = [n[len(prefix) :] for n in group]
        alternatives.append(re.escape(prefix) + _trie_regex(tails))
    if not alternatives:
        return b""
    body = alternatives[0] if len(alternatives) == 1 else b"(?:" + b"|".join(alternatives) + b")"
    if terminal:
        return b"(?:" + body + b")?"
    if len(alternatives) == 1 and rest is needles:
        return body
    return b"(?:" + body + b")"


# --- views of bytes -------------------------------------------------------------------------------

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_B64_STD = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}(?:\n[A-Za-z0-9+/]+={0,2})*")
_B64_URL = re.compile(rb"[A-Za-z0-9_-]{16,}={0,2}")
_HEXISH = re.compile(rb"[0-9a-fA-F\n-]+")
_MAX_DEPTH = 3


def _decompressed(blob: bytes) -> bytes | None:
    try:
        if blob.startswith(b"\xfd7zXZ"):
            return lzma.decompress(blob)
        if blob.startswith(b"BZh"):
            return bz2.decompress(blob)
        if blob.startswith(b"\x1f\x8b"):
            return gzip.decompress(blob)
        if blob[:1] == b"\x78":
            return zlib.decompress(blob)
    except (OSError, ValueError, EOFError, lzma.LZMAError, zlib.error):
        return None
    return None


def views(data: bytes, depth: int = 0, terminal: bool = False) -> Iterator[bytes]:
    """`data`, then what hides inside it: for terminal output, the text without ANSI
    colour codes; base64 runs decoded (any alignment), compressed blobs decompressed,
    recursively."""
    yield data
    if terminal and b"\x1b[" in data:
        yield _ANSI.sub(b"", data)
    if depth >= _MAX_DEPTH:
        return
    text = data.replace(b"\\n", b"\n")
    # Hex runs (ids, digests, UUIDs) are base64-alphabet too: decoding them finds nothing
    # but costs most of the time on a database.
    runs = {run.replace(b"\n", b"") for run in _B64_STD.findall(text) if not _HEXISH.fullmatch(run)}
    urlsafe = {
        run
        for run in _B64_URL.findall(data)
        if (b"-" in run or b"_" in run) and not _HEXISH.fullmatch(run)
    }
    for run, decode in [(r, base64.b64decode) for r in runs] + [
        (r, base64.urlsafe_b64decode) for r in urlsafe
    ]:
        if len(set(run[:256])) < 10:
            continue  # "xxxx...": padding text, not an encoding
        stripped = run.rstrip(b"=")
        for offset in range(4):
            chunk = stripped[offset:]
            if len(chunk) < 12:
                break
            try:
                blob = decode(chunk + b"=" * (-len(chunk) % 4))
            except (binascii.Error, ValueError):
                continue
            yield from views(blob, depth + 1)
            inflated = _decompressed(blob)
            if inflated is not None:
                yield from views(inflated, depth + 1)


def files_under(root: Path) -> Iterator[Path]:
    """Every file below `root` (none if it does not exist), symlinks not followed."""
    if root.exists():
        yield from sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# --- the scanner ----------------------------------------------------------------------------------


class Scanner:
    """Counts occurrences of needles per owner and place, and database rows per owner and table."""

    def __init__(self, needles: Needles) -> None:
        self.pattern, self.owners = needles.compile()
        self.hits: Counter[tuple[Owner, str]] = Counter()
        self.rows: Counter[tuple[Owner, str]] = Counter()

    def _find(self, data: bytes, terminal: bool = False) -> Counter[Owner]:
        found: Counter[Owner] = Counter()
        for view in views(data, terminal=terminal):
            for match in self.pattern.finditer(view):
                owner = self.owners.get(match.group())
                if owner is not None:
                    found[owner] += 1
        return found

    def scan_bytes(self, place: str, data: bytes, terminal: bool = False) -> None:
        """`terminal`: stdout or stderr, where colour codes can split a value."""
        for owner, n in self._find(data, terminal).items():
            self.hits[(owner, place)] += n

    def scan_files(self, label: str, root: Path) -> None:
        """Every file below `root`: its name, then its bytes (and what hides inside)."""
        for path in files_under(root):
            relative = path.relative_to(root)
            self.scan_bytes(f"{label}: file name {relative}", str(relative).encode())
            try:
                data = path.read_bytes()
            except OSError:
                continue
            self.scan_bytes(f"{label}: {relative}", data)

    def scan_sqlite(self, database: Path) -> None:
        """Every row of every table: occurrences at place `db: <table>`, and rows."""
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
        try:
            tables = [
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                for row in connection.execute(f'SELECT * FROM "{table}"'):
                    cells = b"\x00".join(
                        cell
                        if isinstance(cell, bytes)
                        else str(cell).encode("utf-8", "surrogatepass")
                        for cell in row
                        if cell is not None
                    )
                    for owner, n in self._find(cells).items():
                        self.hits[(owner, f"db: {table}")] += n
                        self.rows[(owner, table)] += 1
        finally:
            connection.close()

    def results(self) -> list[Hit]:
        return [
            Hit(owner, place, n)
            for (owner, place), n in sorted(
                self.hits.items(),
                key=lambda item: (item[0][0].pathway, item[0][0].mode, item[0][1]),
            )
        ]


def owners_of(hits: Iterable[Hit]) -> set[tuple[str, str]]:
    return {(hit.owner.pathway, hit.owner.mode) for hit in hits}
