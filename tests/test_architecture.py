"""The package's shape, checked mechanically (DESIGN.md, "The map"):
no import cycle among nhrpscope's and the dissectors' modules (imports
inside functions included), the floors point down, and no class grows past
what one reader can hold."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder -> the import name it installs as (pyproject.toml's package-dir)
PACKAGES = {"dissectors": "nhrpscope.dissectors", "nhrpscope": "nhrpscope"}
MAX_CLASS_LINES = 420  # "about 400" (issue 11): a class one reader can hold


def _modules() -> dict[str, Path]:
    out = {}
    for folder, name in PACKAGES.items():
        for p in sorted((ROOT / folder).rglob("*.py")):
            parts = [name, *p.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that ``import name`` runs last (a package's
    __init__ for a package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str, path: Path) -> set[str]:
    """Every module of ours that ``mod`` imports, at any depth of its code;
    ``from pkg import name`` counts as importing ``pkg.name`` when that is a
    module, else ``pkg``. Imports under ``if TYPE_CHECKING`` do not run and
    are left out."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = mod if is_pkg else mod.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        for n in names:
            r = _resolve(n)
            if r and r != mod:
                found.add(r)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
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

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def _is_ancestor(a: str, b: str) -> bool:
    """A package's __init__ importing its own submodules (or a submodule its
    package) is how packages re-export; it is not a cycle between jobs."""
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_no_import_cycle() -> None:
    cycles = []
    for comp in _cycles():
        inner = [m for m in comp if any(w in comp and not _is_ancestor(m, w) for w in GRAPH[m])]
        if inner:
            cycles.append(comp)
    assert not cycles, f"import cycles: {cycles}"


def test_dissectors_import_nothing_of_nhrpscope() -> None:
    bad = {m: sorted(w for w in GRAPH[m] if not w.startswith("nhrpscope.dissectors"))
           for m in GRAPH if m.startswith("nhrpscope.dissectors")}
    assert not {m: w for m, w in bad.items() if w}


# The floors, every arrow pointing down (DESIGN.md): a module may import
# only from its own floor or lower ones.
FLOORS = [
    ("nhrpscope.cli", "nhrpscope.commands", "nhrpscope.__main__"),
    ("nhrpscope.render", "nhrpscope.sim", "nhrpscope.snapshots"),
    ("nhrpscope.api", "nhrpscope.annotate", "nhrpscope.pipeline", "nhrpscope.rewrite",
     "nhrpscope.decoding",
     "nhrpscope.staging",
     "nhrpscope.keystore", "nhrpscope.cluster"),
    ("nhrpscope.replay", "nhrpscope.keys"),
    ("nhrpscope.dissectors", "nhrpscope.capture", "nhrpscope.errors", "nhrpscope.points", "nhrpscope"),
]


def test_every_package_is_installed() -> None:
    """pyproject.toml lists the packages by hand (the dissectors/ folder is
    mapped to nhrpscope.dissectors): a new package must be added there."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    tree = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert listed == tree


def _floor(mod: str) -> int:
    best, depth = len(FLOORS), -1
    for i, prefixes in enumerate(FLOORS):
        for p in prefixes:
            if (mod == p or mod.startswith(p + ".")) and len(p) > depth:
                best, depth = i, len(p)
    return best


def test_floors_point_down() -> None:
    up = sorted(f"{m} -> {w}" for m in GRAPH for w in GRAPH[m]
                if _floor(w) < _floor(m) and not _is_ancestor(m, w))
    assert not up, "imports that point up a floor:\n" + "\n".join(up)


def test_no_class_too_long_to_read() -> None:
    long = []
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_CLASS_LINES:
                    long.append(f"{mod}.{node.name}: {n} lines")
    assert not long, long


# The result records a command renders; the machinery that makes them is the API's.
RESULT_TYPES = {"nhrpscope.replay", "nhrpscope.replay.model", "nhrpscope.replay.findings"}


@pytest.mark.parametrize("mod", sorted(m for m in MODULES if m.startswith("nhrpscope.commands")))
def test_commands_reach_the_engine_only_through_the_api(mod: str) -> None:
    machinery = {w for w in GRAPH[mod] if w.startswith("nhrpscope.replay")} - RESULT_TYPES
    assert not machinery, machinery
