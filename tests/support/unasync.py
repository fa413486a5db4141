"""Generate the sync lookup loops from the async ones, as httpcore's unasync does.

    python -m tests.support.unasync          # rewrites prefect_secrets/_resolution/_sync.py

`tests/test_unasync.py` fails when `_sync.py` is not what this produces from
`_async.py`, so the two paths cannot drift: edit `_async.py`, then run this.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "prefect_secrets" / "_resolution"
ASYNC_SOURCE = PACKAGE / "_async.py"
SYNC_TARGET = PACKAGE / "_sync.py"

# Whole words only: `alookup` becomes `lookup`, `alookup_many` `lookup_many`.
RULES = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\baresolve_many\b", "resolve_many"),
    (r"\baresolve_env_var\b", "resolve_env_var"),
    (r"\baresolve_version\b", "resolve_version"),
    (r"\baresolve\b", "resolve"),
    (r"\balookup_many\b", "lookup_many"),
    (r"\balookup_version\b", "lookup_version"),
    (r"\balookup\b", "lookup"),
]

HEADER = '''"""The lookup loops (`resolve`...), GENERATED from `_async.py`: do not edit.

Edit `_async.py`, then run `python -m tests.support.unasync` (a test checks they agree).
"""
'''


def generate(source: str) -> str:
    """The sync module for the async module `source`."""
    body = source.split('"""', 2)[2].lstrip("\n")  # drop the module docstring
    for pattern, replacement in RULES:
        body = re.sub(pattern, replacement, body)
    # Lines that lost an `await` may now fit on one line: format as the project does.
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(SYNC_TARGET), "-"],
        input=HEADER + "\n" + body,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main() -> int:
    SYNC_TARGET.write_text(generate(ASYNC_SOURCE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {SYNC_TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
