"""The layers of `src/filedock`, checked on its import graph (read with `ast`; nothing is imported).

- the graph of imports between filedock modules has no cycle;
- ports and their database backends (`db/`) import only the core's model modules;
- the core imports no web framework, no backend library, and no outer layer;
- faces import neither the runtime, nor `db/`, nor a port backend;
- the client imports only itself, httpx and the standard library.

Every import counts, those inside functions and under `if TYPE_CHECKING:` too: a type-only
import never runs, but a module that must know of another's types to be read is as tangled
with it as one that loads it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "src" / "filedock"

# The core modules a port or a database backend may use: records, errors, who calls.
CORE_MODELS = (
    "filedock.core",
    "filedock.core.model",
    "filedock.core.errors",
    "filedock.core.principal",
)
CORE_FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "botocore",
    "obstore",
    "duckdb",
    "sqlglot",
    "pyspark",
    "pyathena",
    "filedock.db",
    "filedock.faces",
    "filedock.runtime",
    "filedock.auth",
    "filedock.web",
    "filedock.app",
    "filedock.cli",
    "filedock.config",
)
FACES_FORBIDDEN = ("filedock.runtime", "filedock.db")
# Backends whose names do not start with their port's module (`<port>_<backend>` does).
NAMED_PORT_BACKENDS = (
    "filedock.ports.objectstore_local",
    "filedock.ports.objectstore_s3",
    "filedock.ports.scanner_clamd",
    "filedock.ports.profiler_duckdb",
    "filedock.ports.blob_signing",
)


@dataclass(frozen=True, slots=True)
class Import:
    source: str
    target: str
    line: int
    type_only: bool

    def __str__(self) -> str:
        guard = " (under TYPE_CHECKING)" if self.type_only else ""
        return f"{self.source}:{self.line} imports {self.target}{guard}"


def test_the_package_is_found() -> None:
    # Guards every check below against passing on an empty graph.
    assert "filedock.core.model" in MODULES
    assert "filedock.ports.accounts" in MODULES
    assert any(i.target == "filedock.core.model" for i in IMPORTS)


def test_module_graph_has_no_cycles() -> None:
    cycle = find_cycle(runtime_graph(IMPORTS))
    assert cycle is None, "filedock modules import each other in a circle:\n  " + " -> ".join(
        cycle or []
    )


def test_ports_and_db_import_only_core_models() -> None:
    offenders = [
        i
        for i in IMPORTS
        if _under(i.source, "filedock.ports", "filedock.db")
        and _under(i.target, "filedock.core")
        and not _is_core_model(i.target)
    ]
    assert not offenders, _report(
        "ports/ and db/ may import from the core only its model modules "
        "(core.model, core.*_model, core.errors, core.principal), never a service:",
        offenders,
    )


def test_core_imports_no_framework_backend_or_outer_layer() -> None:
    offenders = [
        i
        for i in IMPORTS
        if _under(i.source, "filedock.core") and _under(i.target, *CORE_FORBIDDEN)
    ]
    assert not offenders, _report(
        "core/ must stay plain Python, knowing no outer layer:", offenders
    )


def test_faces_import_neither_runtime_nor_db_nor_port_backends() -> None:
    backends = port_backends(MODULES)
    offenders = [
        i
        for i in IMPORTS
        if _under(i.source, "filedock.faces")
        and (_under(i.target, *FACES_FORBIDDEN) or i.target in backends)
    ]
    assert not offenders, _report(
        "faces/ get core services handed to them; they import no runtime, db or port backend:",
        offenders,
    )


def test_the_client_imports_only_itself_httpx_and_the_standard_library() -> None:
    # Callers install filedock for its client too: it must not load the server's parts.
    offenders = [
        i
        for i in IMPORTS
        if _under(i.source, "filedock.client")
        and not _under(i.target, "filedock.client", "httpx", "__future__")
        and i.target.partition(".")[0] not in sys.stdlib_module_names
    ]
    assert not offenders, _report(
        "client/ speaks HTTP only: it imports itself, httpx and the standard library:",
        offenders,
    )


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"d", "a"}, "d": set(), "e": {"a"}}
    cycle = find_cycle(graph)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_are_read_as_the_rules_expect() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import fastapi.responses\n"
        "from filedock.core import model\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from filedock.runtime import Runtime\n"
        "def later():\n"
        "    from filedock.core.files import utc_now\n"
    )
    modules = {"filedock.faces.x", "filedock.faces.sibling", "filedock.core", "filedock.core.model"}
    found = {
        (i.target, i.type_only) for i in imports_of("filedock.faces.x", False, source, modules)
    }
    assert found == {
        ("typing", False),
        ("fastapi.responses", False),
        ("filedock.core", False),
        ("filedock.core.model", False),
        ("filedock.faces", False),
        ("filedock.faces.sibling", False),
        ("filedock.runtime", True),
        ("filedock.core.files", False),
    }


# --- reading the package ---------------------------------------------------------------------


def discover_modules(root: Path) -> dict[str, Path]:
    """Every module under `root` by its dotted name (a package by its `__init__.py`)."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(module: str, is_package: bool, source: str, modules: Iterable[str]) -> list[Import]:
    """What `module` imports: the named modules, and `from m import x` as m and m.x if a module."""
    known = set(modules)
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            found.append(Import(module, base, node.lineno, type_only))
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.append(Import(module, f"{base}.{alias.name}", node.lineno, type_only))
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(ast.parse(source), False)
    return found


def runtime_graph(imports: Iterable[Import]) -> dict[str, set[str]]:
    """filedock module -> the filedock modules it imports (type-only imports included)."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if _under(i.target, "filedock"):
            graph.setdefault(i.source, set()).add(i.target)
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as a path that starts and ends at the same node, or None if there is none."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]
        on_path = {start}
        pending = [iter(sorted(graph.get(start, ())))]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                pending.pop()
                node = path.pop()
                on_path.discard(node)
                done.add(node)
            elif nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                pending.append(iter(sorted(graph.get(nxt, ()))))
    return None


def port_backends(modules: Iterable[str]) -> set[str]:
    """Modules of ports/ that implement a port: the named ones and every `<port>_<backend>`."""
    ports = {m for m in modules if _under(m, "filedock.ports") and m != "filedock.ports"}
    leaves = {m.rpartition(".")[2] for m in ports}
    derived = {
        m
        for m in ports
        if "_" in (leaf := m.rpartition(".")[2]) and leaf.partition("_")[0] in leaves
    }
    return derived | {m for m in NAMED_PORT_BACKENDS if m in ports}


def _absolute(name: str | None, level: int, package: str) -> str:
    if level == 0:
        return name or ""
    base = package.rsplit(".", level - 1)[0] if level > 1 else package
    return f"{base}.{name}" if name else base


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_core_model(name: str) -> bool:
    return name in CORE_MODELS or (
        name.startswith("filedock.core.") and name.count(".") == 2 and name.endswith("_model")
    )


def _report(rule: str, offenders: Iterable[Import]) -> str:
    return "\n  ".join([rule, *sorted(str(i) for i in offenders)])


def _read_package(modules: Mapping[str, Path]) -> list[Import]:
    imports: list[Import] = []
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        imports += imports_of(module, path.name == "__init__.py", source, modules)
    return imports


MODULES = discover_modules(PACKAGE_ROOT)
IMPORTS = _read_package(MODULES)
