"""Resolution: the one walk of the precedence (`walk`), the lookup loops (`_async`, and
`_sync` generated from it) and `explain`."""

from __future__ import annotations

from prefect_secrets._resolution._async import aresolve, aresolve_many, aresolve_version
from prefect_secrets._resolution._sync import resolve, resolve_many, resolve_version

__all__ = [
    "aresolve",
    "aresolve_many",
    "aresolve_version",
    "resolve",
    "resolve_many",
    "resolve_version",
]
