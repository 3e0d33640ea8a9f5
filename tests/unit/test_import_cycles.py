"""No import cycles between the modules of shared/.

A package __init__ is a curated facade over its submodules: it may import them, but a submodule must import
its siblings directly (``from shared.oauth._config import X``), never through its own package, because that
closes a cycle (package -> submodule -> package) that only works while the import order happens to suit it.

The graph is read from the source with ``ast``: ``import a.b`` and ``from a.b import c`` are edges to ``a.b``
(and to ``a.b.c`` when that is a module). Imports inside functions count too: a lazy import still ties the two
modules together; only ``if TYPE_CHECKING:`` blocks, which never run, are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package __init__) for every .py file under root/package."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _executed_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in the module except those under ``if TYPE_CHECKING:``."""
    imports: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return imports


def _imported(name: str, path: Path, is_package: bool, modules: dict[str, tuple[Path, bool]]) -> set[str]:
    """The modules of the tree that module `name` imports."""
    own_package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _executed_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in modules)
            continue
        if node.level:
            base = own_package.split(".")[: len(own_package.split(".")) - (node.level - 1)]
            source = ".".join([*base, node.module] if node.module else base)
        else:
            source = node.module or ""
        if source in modules:
            targets.add(source)
        targets.update(f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules)
    targets.discard(name)
    return targets


def import_cycles(root: Path, package: str) -> list[list[str]]:
    """The strongly connected groups of more than one module (each is at least one cycle), sorted."""
    modules = _modules(root, package)
    graph = {name: _imported(name, path, is_package, modules) for name, (path, is_package) in modules.items()}
    # Tarjan's algorithm, iterative so a deep chain of imports cannot hit the recursion limit.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, remaining = work[-1]
            if remaining:
                target = remaining.pop()
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, sorted(graph[target])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return sorted(cycles)


def test_shared_has_no_import_cycles() -> None:
    assert import_cycles(ROOT, "shared") == []


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_submodule_importing_its_own_package_is_a_cycle(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from pkg.sub._a import A\n",
            "pkg/sub/_a.py": "from pkg.sub import _b\nA = 1\n",
            "pkg/sub/_b.py": "B = 2\n",
        },
    )
    assert import_cycles(tmp_path, "pkg") == [["pkg.sub", "pkg.sub._a"]]


def test_relative_and_lazy_imports_count_but_type_checking_ones_do_not(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/one.py": "def late():\n    from . import two\n",
            "pkg/two.py": "from pkg.one import late\n",
            "pkg/three.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import four\n",
            "pkg/four.py": "import pkg.three\n",
        },
    )
    assert import_cycles(tmp_path, "pkg") == [["pkg.one", "pkg.two"]]


def test_a_package_importing_its_submodules_is_fine(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg._a import A\nfrom pkg import _b\n",
            "pkg/_a.py": "import pkg._b as b\nA = b.B\n",
            "pkg/_b.py": "B = 2\n",
        },
    )
    assert import_cycles(tmp_path, "pkg") == []
