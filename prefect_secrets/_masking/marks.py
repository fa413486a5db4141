"""What every hook shares: the mark that makes installing twice a no-op."""

from __future__ import annotations

__all__ = ["MARK"]

# Marks what this package installed, so that installing twice is a no-op.
MARK = "_prefect_secrets_masking"
