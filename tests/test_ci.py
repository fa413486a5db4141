"""What CI promises about Prefect versions matches what the package declares: the oldest
Prefect that .ci/older-prefect tests is pyproject.toml's lower bound, every version it tests
is inside the declared range, and the tests it runs exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "older-prefect"


def declared_prefect() -> tuple[str, str]:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in dependencies if re.match(r"prefect\s*[<>=]", d)]
    lower = re.search(r">=\s*([\d.]+)", spec)
    upper = re.search(r"<\s*([\d.]+)", spec)
    assert lower, f"pyproject.toml: {spec!r} should have a lower bound"
    assert upper, f"pyproject.toml: {spec!r} should have an upper bound"
    return lower.group(1), upper.group(1)


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def script_array(name: str) -> list[str]:
    match = re.search(rf"^{name}=\(\n?(.*?)\)", SCRIPT.read_text(), re.S | re.M)
    assert match, f".ci/older-prefect: no {name}=(...) array"
    return match.group(1).split()


def test_the_oldest_prefect_ci_tests_is_the_declared_lower_bound() -> None:
    lower, upper = declared_prefect()
    versions = script_array("VERSIONS")
    assert len(versions) >= 2, "the oldest supported minor and one in the middle"
    assert versions[0] == lower
    for version in versions:
        assert release(lower) <= release(version) < release(upper)


def test_every_version_has_its_pins_and_every_test_file_exists() -> None:
    text = SCRIPT.read_text()
    for version in script_array("VERSIONS"):
        assert f"[{version}]=" in text, f".ci/older-prefect: no PINS entry for {version}"
    for test in script_array("TESTS"):
        assert (ROOT / test).is_file(), f".ci/older-prefect runs {test}, which does not exist"


def test_ci_runs_the_older_minors_and_the_readme_test_command() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/older-prefect" in run
    assert 'pip install ".[test]" && python -m pytest' in run
