"""The import drawing: app -> service -> library, one way, and no module circles (issue 16).

Read from the source (every ``import`` and ``from ... import`` at any depth, lazy ones included), not from what
happens to be loaded, so a circle hidden inside a function is found too.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rpm_engine", "rpm_service", "explorer")
ENTRY_POINTS = {"rpm_engine.__main__"}  # `python -m rpm_engine`: a program composed at the top (rpm_service.cli)


def _imports(path: Path, package: str) -> set[str]:
    """Modules of ours that ``path`` imports (a name imported from a package counts as its module when it is one)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] in (*PACKAGES, "streamlit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package if node.level == 1 else ""
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module.split(".")[0] not in (*PACKAGES, "streamlit"):
                continue
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    files = {f"{pkg}.{p.stem}": p for pkg in PACKAGES for p in sorted((ROOT / pkg).glob("*.py"))}
    names = set(files)
    graph = {}
    for name, path in files.items():
        if name.endswith(".__init__") or name in ENTRY_POINTS:
            continue
        deps = _imports(path, name.split(".")[0])
        graph[name] = {d for d in deps if d in names and d != name and not d.endswith("__init__")}
        graph[name] |= {d for d in deps if d.split(".")[0] == "streamlit"} and {"streamlit"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_layers_point_one_way():
    graph = _graph()
    wrong = []
    for name, deps in graph.items():
        layer = name.split(".")[0]
        for d in deps:
            if layer == "rpm_engine" and d.split(".")[0] in ("rpm_service", "explorer", "streamlit"):
                wrong.append(f"{name} -> {d}")
            if layer == "rpm_service" and d.split(".")[0] in ("explorer", "streamlit"):
                wrong.append(f"{name} -> {d}")
    assert wrong == []


def test_the_checker_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
