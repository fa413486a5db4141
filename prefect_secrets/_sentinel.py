"""`MISSING`: "this source has no such secret", kept apart from any value (None included)."""

from __future__ import annotations

# typing costs ~10 ms to import; annotations need it only when type checking.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = ["MISSING", "Missing"]


class Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Missing] = Missing()
