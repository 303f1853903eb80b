"""The package's import layering, read from the source: commands at the top, nothing below them
imports a command, and no module imports itself back through others (no cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "autostop_async"
#: The command layer: what a person runs. Everything else is below it.
COMMAND_MODULES = {"__main__", "cli", "launch", "status", "keepalive"}
COMMAND_PACKAGES = {"admin"}


def module_name(path: Path) -> str:
    """``signals.editor`` for autostop_async/signals/editor.py; ``signals`` for its __init__."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The package's modules that ``path`` imports at module level (relative or absolute),
    by name within the package."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "autostop_async":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # `from . import x` may name a module
                found.add(".".join([*target, alias.name]).strip("."))
            found.add(".".join(target))
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m}


def is_command(name: str) -> bool:
    return name in COMMAND_MODULES or name.split(".")[0] in COMMAND_PACKAGES


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_the_reader_of_the_graph_sees_imports() -> None:
    edges = graph()
    assert "daemon" in edges["launch"]
    assert "signals.base" in edges["signals.terminals"]
    assert "activity" in edges["signals.base"]


def test_no_module_below_the_command_layer_imports_a_command() -> None:
    upward = {
        (name, target)
        for name, targets in graph().items()
        if not is_command(name)
        for target in targets
        if is_command(target)
    }
    assert upward == set()


def test_there_is_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for target in sorted(edges.get(name, ())):
            if target != name.rpartition(".")[0]:  # a module may import its package's __init__
                visit(target, [*path, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])
