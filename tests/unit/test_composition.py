"""No class of the package inherits another of its classes to reuse code (issue 18): parts are
composed. Exceptions, protocols and abstract base classes are the exceptions."""

from __future__ import annotations

import ast
from pathlib import Path

import agentsight_otel

PACKAGE = Path(agentsight_otel.__file__).parent


def _classes() -> dict[str, tuple[str, list[str]]]:
    """Every class of the package: its file and the names of its bases."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
                found[node.name] = (str(path.relative_to(PACKAGE)), bases)
    return found


def _allowed(name: str, classes: dict[str, tuple[str, list[str]]]) -> bool:
    """Whether inheriting ``name`` is fine: an exception, a protocol or an ABC."""
    if name.endswith(("Error", "Exception")) or name in ("Protocol", "ABC"):
        return True
    bases = classes[name][1] if name in classes else []
    return any(base in ("Protocol", "ABC", "Exception") or base.endswith("Error") for base in bases)


def test_no_class_of_the_package_extends_another_to_reuse_its_code() -> None:
    classes = _classes()
    assert "ConversationTracker" in classes and "Wiring" in classes
    reused = [
        f"{path}: {name}({base})"
        for name, (path, bases) in classes.items()
        for base in bases
        if base in classes and not _allowed(base, classes)
    ]
    assert reused == []
