"""The foundation the other packages build on: errors, names, `MISSING`, env reads, values.

Nothing here does I/O beyond reading the environment, and nothing here imports
from another package of prefect_secrets.
"""

from __future__ import annotations

# `typing` costs about 10 ms to import and `import prefect_secrets` must stay
# light, so modules on the lookup path guard their annotation-only imports with
# this instead of `typing.TYPE_CHECKING` (mypy treats any name TYPE_CHECKING as true).
TYPE_CHECKING = False

__all__ = ["TYPE_CHECKING"]
