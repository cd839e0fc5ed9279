"""No import cycles among the simulator's modules (DESIGN.md: "No import
cycles, lazy imports included").

Every ``import`` statement counts, wherever it is: at the top, inside a
function (a lazy import) or under ``if TYPE_CHECKING`` - each is a
dependency of one module on another, and a cycle of them is what the design
forbids. The graph is read from the source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIM = "nhrpscope.sim"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    base = ROOT.joinpath(*package.split("."))
    return {_module_name(p): p for p in sorted(base.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # "from pkg import sub" imports the submodule when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            # "import a.b.c" depends on a.b.c; the nearest known enclosing module stands for it.
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph(package: str) -> dict[str, set[str]]:
    mods = _modules(package)
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    graph = import_graph(SIM)
    # run.py imports the scale driver at the top; flows and ipsec name their router by a Protocol.
    assert "nhrpscope.sim.scale" in graph["nhrpscope.sim.run"]
    assert "nhrpscope.sim.router" not in graph["nhrpscope.sim.flows"]
    assert "nhrpscope.sim.router" not in graph["nhrpscope.sim.ipsec"]
    # scenario.py reads MAX_DURATION from the package itself.
    assert "nhrpscope.sim" in graph["nhrpscope.sim.scenario"]


def test_no_import_cycles_in_the_simulator() -> None:
    assert cycles(import_graph(SIM)) == []


def test_no_router_layer_imports_the_simulation() -> None:
    """The routers reach the world only through ``host.Host``."""
    graph = import_graph(SIM)
    actors = ["node", "nhc", "nhs", "router", "ipsec", "ike_codec", "flows", "host"]
    for a in actors:
        deps = graph[f"{SIM}.{a}"]
        assert not deps & {f"{SIM}.simulation", f"{SIM}.run", f"{SIM}.scale", f"{SIM}.net"}, (a, deps)
