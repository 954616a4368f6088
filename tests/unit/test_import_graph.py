"""The package's modules import each other without a cycle, at module level or inside functions
(issue 18): a cycle, even a lazy one, means two modules that cannot be read one at a time.
Imports for type checkers only (``if TYPE_CHECKING:``) never run and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

import agentsight_otel

PACKAGE = Path(agentsight_otel.__file__).parent
NAME = "agentsight_otel"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules ``path`` imports anywhere in it, with the packages they run."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _run_time_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" for alias in node.names]
            # ``from package import module`` needs the module; any other name, the package.
            targets = [base] * any(n not in modules for n in names) + names
        else:
            continue
        for target in targets:
            if target not in modules:
                continue
            found.add(target)
            # Importing a.b.c runs the packages a.b (and a) first, unless the importer is inside.
            parts = target.split(".")
            for end in range(1, len(parts)):
                ancestor = ".".join(parts[:end])
                if not (name == ancestor or name.startswith(ancestor + ".")):
                    found.add(ancestor)
    found.discard(name)
    return found


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:``."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                stack.extend(child.orelse)
            else:
                stack.append(child)
    return nodes


def _graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in files}
    return {_module_name(path): _imports(path, modules) for path in files}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules on it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_the_graph_is_read_from_the_sources() -> None:
    graph = _graph()
    assert f"{NAME}._current" in graph and f"{NAME}._tracker.tracker" in graph
    assert f"{NAME}._tracker.state" in graph[f"{NAME}._tracker.recorder"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_of_the_package_imports_itself_through_others() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or ())
