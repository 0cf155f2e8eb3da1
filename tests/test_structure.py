"""The code's structure: package import graph without new cycles, plain-Python layers, docstrings, README layout.

Run as a script (``python -m tests.test_structure``) to print the package import graph.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PACKAGE = REPOSITORY / "terminology"
# Layers that must stay plain Python: no Flask, no Werkzeug, no request objects.
PLAIN_PYTHON = (
    "engine", "service", "fhir", "bundling", "content", "caching", "config",
    "storage", "ncci", "importers", "dates", "text", "errors",
)  # fmt: skip
# Package cycles known and owned elsewhere; a new cycle fails the test. (None left: ops no longer
# imports api, the access errors are raised and ops.health renders its own probes.)
ALLOWED_CYCLES: list[set[str]] = []


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPOSITORY).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _node(module: str) -> str:
    """Name a module's node: its subpackage, or the top-level module itself (the factory is ``terminology``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "terminology"
    if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").exists():
        return parts[1]
    return "terminology"  # a name imported from the package itself (``from terminology import x``)


def _imports(module: str, path: Path) -> set[str]:
    names = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module == "terminology":
                names.update(f"terminology.{alias.name}" for alias in node.names)
            elif node.module:
                names.add(node.module)
    return names


def package_graph() -> dict[str, dict[str, set[str]]]:
    """Return ``{package: {imported package: {importing modules}}}`` over terminology/*."""
    graph: dict[str, dict[str, set[str]]] = {}
    for module, path in _modules():
        source = _node(module)
        for name in _imports(module, path):
            if name.split(".")[0] != "terminology":
                continue
            target = _node(name)
            if target != source:
                graph.setdefault(source, {}).setdefault(target, set()).add(module)
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[set[str]]:
    """Return the strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []
    counter = itertools.count()

    def visit(node: str) -> None:
        index[node] = low[node] = next(counter)
        stack.append(node)
        for other in graph.get(node, {}):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)

    for node in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if node not in index:
            visit(node)
    return found


def test_no_new_import_cycles_between_packages():
    unexpected = [group for group in cycles(package_graph()) if group not in ALLOWED_CYCLES]
    assert unexpected == []


def test_the_engine_never_imports_fhir_mapping_or_http():
    graph = package_graph()
    assert not {"fhir", "api", "ops", "service"} & set(graph.get("engine", {}))


def test_plain_python_layers_import_no_flask():
    for module, path in _modules():
        if _node(module) in PLAIN_PYTHON:
            web = {name for name in _imports(module, path) if name.split(".")[0] in ("flask", "werkzeug")}
            assert not web, f"{module} imports {sorted(web)}"


def test_every_module_has_a_docstring_saying_what_it_owns():
    for module, path in _modules():
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert docstring and len(docstring.splitlines()[0]) > 20, module


def test_no_private_name_is_imported_from_another_package():
    crossing = []
    for module, path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("terminology."):
                private = [
                    a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")
                ]
                if private and _node(node.module) != _node(module):
                    crossing.append(f"{module} imports {', '.join(private)} from {node.module}")
    assert crossing == []


def _layout_rows() -> list[tuple[list[str], str]]:
    text = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    section = text.split("## Code layout", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = line.split(" | ")
        if line.startswith("| `") and len(cells) >= 2:
            rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def test_readme_code_layout_matches_the_tree():
    rows = _layout_rows()
    listed = [path for paths, _ in rows for path in paths]
    for path in listed:
        assert (REPOSITORY / path.rstrip("/")).exists(), f"README lists {path}, which does not exist"
    packages = {f"terminology/{p.parent.name}/" for p in PACKAGE.glob("*/__init__.py")}
    modules = {f"terminology/{p.name}" for p in PACKAGE.glob("*.py")}
    missing = (packages | modules) - set(listed)
    assert missing == set(), f"not in the README's code layout: {sorted(missing)}"
    # The api row names the view modules: each named one exists.
    (api_text,) = [what for paths, what in rows if paths == ["terminology/api/"]]
    for name in re.findall(r"`([a-z_]+)`", api_text):
        assert (PACKAGE / "api" / f"{name}.py").exists(), f"the api row names `{name}`"


if __name__ == "__main__":
    graph = package_graph()
    for source in sorted(graph):
        print(f"{source:16} -> {', '.join(sorted(graph[source]))}")
    print("cycles:", [sorted(group) for group in cycles(graph)] or "none")


def test_the_importers_leave_date_parsing_and_formatting_to_terminology_dates():
    # Issue 12: one module owns date parsing and formatting. The import side (NCCI files, CPT and
    # HCPCS releases) reads and writes dates only through terminology/dates.py.
    calls = re.compile(r"\b(strptime|strftime|fromisoformat|isoformat)\(|datetime\.now\(")
    offenders = [
        f"{path.relative_to(REPOSITORY)}:{number}"
        for folder in ("ncci", "importers")
        for path in sorted((PACKAGE / folder).glob("*.py"))
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if calls.search(text)
    ]
    assert offenders == []
