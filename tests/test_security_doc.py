"""SECURITY.md names the test behind each promise: every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_test_named_in_security_md_exists() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    named = re.findall(r"(test_\w+\.py)::(test_\w+)", text)
    assert len(named) >= 25
    missing = [
        f"{module}::{test}"
        for module, test in named
        if not re.search(rf"^(async )?def {test}\(", (ROOT / "tests" / module).read_text(), re.M)
    ]
    assert missing == []
    for module in re.findall(r"`(test_\w+\.py)`", text):
        assert (ROOT / "tests" / module).is_file(), module
