"""The house rules of the tree (README "Layout"): the generic library never imports recipe
code, a recipe package never imports another recipe's, and each recipe's top-level scripts
stay thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "sepplug"
RECIPES = LIBRARY / "recipes"


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` / ``from ... import`` of ``path`` names (at any depth)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_imported_modules_sees_nested_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from sepplug.recipes import mixit\n", encoding="utf-8")
    assert "sepplug.recipes.mixit" in imported_modules(source)


def test_generic_library_imports_no_recipe():
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(LIBRARY.rglob("*.py")) if RECIPES not in path.parents
        for module in sorted(imported_modules(path))
        if module == "sepplug.recipes" or module.startswith("sepplug.recipes.")
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.iterdir() if p.is_dir()
                                          and (p / "__init__.py").is_file()))
def test_recipe_imports_no_other_recipe(recipe):
    own = f"sepplug.recipes.{recipe}"
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((RECIPES / recipe).rglob("*.py"))
        for module in sorted(imported_modules(path))
        if module.startswith("sepplug.recipes.") and not (module == own
                                                          or module.startswith(own + "."))
    ]
    assert not offenders, "\n".join(offenders)
