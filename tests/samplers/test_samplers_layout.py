"""The layout of raysweep.samplers: sampler families are subpackages that keep to themselves.

Each family's ``__init__`` says what it may import; this checks the rules that are mechanical.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import raysweep.samplers

ROOT = Path(raysweep.samplers.__file__).parent
FAMILIES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (late imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _family_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["raysweep", "samplers"] and len(parts) > 2 and parts[2] in FAMILIES:
        return parts[2]
    return None


def test_the_families_are_the_expected_ones() -> None:
    assert FAMILIES == ["_gp", "_nsga2", "_tpe"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_documents_itself_and_imports_no_other(family: str) -> None:
    package = ROOT / family
    assert ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    for path in sorted(package.glob("*.py")):
        others = {f for m in _imports(path) if (f := _family_of(m)) not in (None, family)}
        assert not others, f"{family}/{path.name} imports the families {others}"


def test_outside_a_family_only_its_package_is_imported() -> None:
    for path in sorted(ROOT.glob("*.py")):
        inner = [m for m in _imports(path) if _family_of(m) and m.count(".") > 2]
        assert not inner, f"{path.name} reaches into {inner}; import the family's package"


def test_no_module_imports_the_runtime_or_the_scheduler() -> None:
    for path in sorted(ROOT.rglob("*.py")):
        roots = {m.split(".")[0] for m in _imports(path)}
        assert not roots & {"ray", "pyarrow"}, path
        assert not any(m.startswith("raysweep.scheduling") for m in _imports(path)), path
        assert not any(m.startswith("raysweep.orchestrator") for m in _imports(path)), path
