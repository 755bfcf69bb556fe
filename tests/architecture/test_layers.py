"""The import graph keeps its shape: no cycle, no import from a lower layer to a higher one.

docs/architecture.md draws the layers; this test is what keeps the drawing true. It
reads the source with :mod:`ast` (every import, including those inside functions and
under ``TYPE_CHECKING``), so a hidden function-local import counts like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("personal_assistant", "apps")

#: From the bottom up; a module may import its own layer and the layers below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("personal_assistant.errors",),
    ("personal_assistant.database", "personal_assistant.dashboard"),
    ("personal_assistant.database.migrations", "personal_assistant.optimizer"),
    ("personal_assistant.monitoring",),
    ("personal_assistant.service",),
    ("personal_assistant.api",),
    ("personal_assistant.cli", "personal_assistant.config", "apps"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every project module ``path`` imports, resolved to absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (t for t in targets if t.startswith(PACKAGES))


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for pkg in PACKAGES for p in (SRC / pkg).rglob("*.py")}
    return {
        name: {t for t in imports_of(path) if t in modules and t != name}
        for name, path in modules.items()
    }


def layer(module: str) -> int:
    """The layer of the most specific prefix that names ``module``."""
    best, rank = "", -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, rank = prefix, index
    return rank


def test_every_module_has_a_layer() -> None:
    assert [m for m in graph() if layer(m) < 0 and m not in PACKAGES] == []


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in graph().items()
        for target in targets
        if layer(target) > layer(source)
    ]
    assert upward == []


def test_nothing_inside_the_package_imports_the_config_faces() -> None:
    users = [
        f"{source} -> {target}"
        for source, targets in graph().items()
        for target in targets
        if target.startswith("personal_assistant.config") and layer(source) < len(LAYERS) - 1
    ]
    assert users == []


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        path.append(node)
        for target in sorted(edges[node]):
            if not target.startswith(node + "."):  # a package re-exporting its own modules
                visit(target)
        path.pop()
        done.add(node)

    for node in sorted(edges):
        visit(node)


def test_only_the_http_layer_and_the_app_import_fastapi() -> None:
    importers = sorted(
        module_name(path)
        for pkg in PACKAGES
        for path in (SRC / pkg).rglob("*.py")
        if any(
            isinstance(node, ast.Import | ast.ImportFrom)
            and any(
                n.startswith(("fastapi", "starlette"))
                for n in (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
            )
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert [m for m in importers if layer(m) < layer("personal_assistant.api")] == []
