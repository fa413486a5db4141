"""Every value the library hands out is registered here, to be masked wherever it could leak.

(Issue 3 builds the masking on this registry.)
"""

from __future__ import annotations

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register"]

_registered: set[str] = set()


def register(value: Any) -> None:
    """Remember `value` (each string leaf of it) as secret. On the hot path of every get."""
    if type(value) is str:
        if value not in _registered:
            _registered.add(value)
    elif isinstance(value, dict):
        for leaf in value.values():
            register(leaf)
    elif isinstance(value, (list, tuple)):
        for leaf in value:
            register(leaf)
