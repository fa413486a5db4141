"""Counting plaintexts in bytes left behind, including where Prefect hides them from a grep.

Prefect's default result serializer pickles a result and wraps the pickle in
base64 (`prefect.serializers.PickleSerializer`), inside a JSON record where
the base64 line breaks are written `\\n`. A plain byte search would miss a
persisted secret there, so base64 runs are decoded and searched too (a
pickled str keeps its UTF-8 bytes as they are).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["files_under", "occurrences"]

_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}(?:\n[A-Za-z0-9+/]+={0,2})*")


def occurrences(data: bytes, plaintexts: Iterable[str]) -> int:
    """How many times the plaintexts occur in `data`, as bytes or inside base64 runs."""
    needles = [text.encode() for text in plaintexts]
    views = [data]
    for run in _BASE64_RUN.findall(data.replace(b"\\n", b"\n")):
        blob = run.replace(b"\n", b"")
        try:
            views.append(base64.b64decode(blob + b"=" * (-len(blob) % 4)))
        except (binascii.Error, ValueError):
            continue
    return sum(view.count(needle) for view in views for needle in needles)


def files_under(root: Path) -> Iterator[Path]:
    """Every file below `root` (none if it does not exist)."""
    if root.exists():
        yield from sorted(path for path in root.rglob("*") if path.is_file())
