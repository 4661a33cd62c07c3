"""The layers' rules, checked on the source (docs/architecture.md, "Layers").

Imports are read from each module's syntax tree, not by importing it, so a rule cannot pass
because something else happened to import a module first.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "scimlite"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))

# (package, modules it must never import, why)
FORBIDDEN = [
    ("scim/", ("aiohttp", "aiosqlite", "sqlite3", "scimlite.store", "scimlite.api"), "pure"),
    ("store/", ("aiohttp", "scimlite.api", "scimlite.console"), "no HTTP in the store"),
]
# SQL the store alone may speak: a statement's leading keywords inside a string literal.
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)"
    r"|PRAGMA\s+\w+)\b",
    re.I | re.S,
)
NO_SQL = ("api/", "console/", "scim/")


def _imports(module: str) -> set[str]:
    """Every module `module` imports, absolute names (relative imports resolved)."""
    tree = ast.parse((PACKAGE / module).read_text())
    package = ("scimlite/" + module).rsplit("/", 1)[0].replace("/", ".")
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _strings(module: str) -> list[str]:
    tree = ast.parse((PACKAGE / module).read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize(("package", "forbidden", "why"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_layers_import_only_what_they_may(
    package: str, forbidden: tuple[str, ...], why: str
) -> None:
    broken = {
        module: sorted(name for name in _imports(module) if name.startswith(forbidden))
        for module in MODULES
        if module.startswith(package)
    }
    assert not {m: names for m, names in broken.items() if names}, why


@pytest.mark.parametrize("package", NO_SQL)
def test_only_the_store_speaks_sql(package: str) -> None:
    found = {
        module: [s[:60] for s in _strings(module) if SQL.search(s)]
        for module in MODULES
        if module.startswith(package)
    }
    assert not {m: sql for m, sql in found.items() if sql}


def test_the_rules_see_real_violations() -> None:
    """The checks above see real imports and real SQL: the API imports aiohttp, the store
    speaks SQL."""
    assert "aiohttp" in _imports("api/http.py")
    assert any(SQL.search(s) for m in MODULES if m.startswith("store/") for s in _strings(m))


def _table_modules() -> set[str]:
    """The modules named in the first column of the architecture doc's module table."""
    section = ARCHITECTURE.read_text().split("## Modules", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            named.update(re.findall(r"`([\w/.]+)`", first))
    return named


def _only_a_docstring(module: str) -> bool:
    """A package's `__init__.py` that holds nothing but its docstring needs no row."""
    body = ast.parse((PACKAGE / module).read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def test_every_module_has_a_row_in_the_architecture_doc() -> None:
    """A module added without a row fails here; so does a row for a module that is gone."""
    named = _table_modules()
    packages = {m.rsplit("/", 1)[0] + "/" for m in MODULES if "/" in m}
    required = {m for m in MODULES if not _only_a_docstring(m)}
    missing = sorted(m for m in required if m not in named)
    assert not missing, f"docs/architecture.md's module table has no row for {missing}"
    stale = sorted(n for n in named if n not in MODULES and n not in packages)
    assert not stale, f"docs/architecture.md names modules that do not exist: {stale}"
