"""Nothing in the package evaluates, unpickles or otherwise runs what it is given.

The scan reads the package's syntax trees, so a mention in a docstring or comment is fine and a
call hidden behind an alias is still found.
"""

from __future__ import annotations

import ast
from pathlib import Path

import agentsight_otel

PACKAGE = Path(agentsight_otel.__file__).resolve().parent
# Modules whose only purpose is to turn bytes into objects that can run code.
FORBIDDEN_MODULES = frozenset(
    {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle",
     "yaml", "ruamel", "joblib", "code", "codeop"}
)  # fmt: skip
FORBIDDEN_CALLS = frozenset({"eval", "exec", "compile", "__import__", "execfile", "input"})
FORBIDDEN_ATTRIBUTES = frozenset(
    {("yaml", "load"), ("yaml", "unsafe_load"), ("pickle", "loads"), ("pickle", "load"),
     ("marshal", "loads"), ("os", "system"), ("os", "popen"), ("subprocess", "Popen"),
     ("subprocess", "run"), ("subprocess", "call"), ("subprocess", "check_output"),
     ("importlib", "import_module"), ("builtins", "eval"), ("builtins", "exec")}
)  # fmt: skip


def problems(source: str, name: str) -> list[str]:
    """Every forbidden import, call or attribute use in one module's source."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and _forbidden(node.module):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found += [f"{node.func.id}(...)"] if node.func.id in FORBIDDEN_CALLS else []
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            found += [f"{pair[0]}.{pair[1]}"] if pair in FORBIDDEN_ATTRIBUTES else []
    return [f"{name}:{problem}" for problem in found]


def _forbidden(module: str) -> bool:
    return module.partition(".")[0] in FORBIDDEN_MODULES


def test_the_package_never_evaluates_or_unpickles_anything() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    found = [p for f in files for p in problems(f.read_text("utf-8"), str(f.relative_to(PACKAGE)))]
    assert found == []


def test_the_scan_finds_what_it_looks_for() -> None:
    sample = (
        "import pickle\nfrom yaml import load\nimport marshal as m\n"
        "eval(x)\nexec(y)\n__import__(z)\nyaml.load(s)\nos.system(c)\n"
        "# eval(comment) is fine\n'''pickle.loads in a docstring is fine'''\n"
    )
    assert len(problems(sample, "sample")) == 8
