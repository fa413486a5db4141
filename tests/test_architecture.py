"""The shape of the package: layers that import only downwards, public names only across
modules, no module too long to read (README "Architecture")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "prefect_secrets"

# Lowest first. A module may import from its own layer and the layers before it.
LAYERS = [
    ["_core"],
    ["_config"],
    ["sources"],
    ["_context", "_server"],
    ["_tokens"],
    ["_sources"],
    ["_resolution", "_masking"],
    ["_secret"],
    ["_inject", "_prefect", "_security"],
    ["_cli"],
    ["__init__", "__main__", "pytest_plugin"],
]
MAX_LINES = 420


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(("prefect_secrets", *parts))] = path
    return found


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def imports_of(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
    return found


def test_every_import_goes_down_the_layers() -> None:
    upward = []
    for module, path in modules().items():
        for imported, names, line in imports_of(path):
            if not imported.startswith("prefect_secrets"):
                continue
            targets = [imported] + [f"{imported}.{name}" for name in names]
            target = next((t for t in reversed(targets) if t in modules()), imported)
            if target == "prefect_secrets":
                target = "prefect_secrets.__init__"
            if layer_of(target) > layer_of(module):
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert upward == []


def test_no_module_takes_a_private_name_from_another() -> None:
    """Each module's public names are its `__all__`; the others are its own business."""
    private = []
    for module, path in modules().items():
        for imported, names, line in imports_of(path):
            if imported.startswith("prefect_secrets") and imported != module:
                for name in names:
                    if name.startswith("_") and f"{imported}.{name}" not in modules():
                        private.append(f"{path.relative_to(PACKAGE)}:{line} {imported}.{name}")
    assert private == []


def test_every_module_declares_its_public_names() -> None:
    missing = [
        str(path.relative_to(PACKAGE))
        for module, path in modules().items()
        if path.name != "__init__.py"
        and path.name != "__main__.py"
        and "__all__" not in path.read_text(encoding="utf-8")
    ]
    assert missing == []


def test_no_module_is_too_long_to_read() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in modules().values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
