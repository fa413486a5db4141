"""`MISSING`: "this source has no such secret", kept apart from any value (None included)."""

from __future__ import annotations

from prefect_secrets._core import TYPE_CHECKING

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
