"""The package's import graph, read from the source with ``ast``: no cycles, and no module imports a layer above
its own (docs/architecture.md). Imports inside functions count (a lazy import is still a dependency); imports
under ``if TYPE_CHECKING:`` do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "snarefuse"

#: Layers from the bottom up; a module may import its own layer and those below. A module is placed by its
#: longest listed prefix; a new module must be placed here (the test fails until it is).
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["snarefuse", "snarefuse.errors", "snarefuse.constants", "snarefuse.units", "snarefuse.io",
                    "snarefuse.quiet", "snarefuse.psf", "snarefuse.platforms", "snarefuse.trajfile", "snarefuse.reference",
                    "snarefuse.analysis.kernels", "snarefuse.analysis.grid", "snarefuse.analysis.holes",
                    "snarefuse.analysis.lengths",
                    "snarefuse.analysis.stats"]),
    ("input", ["snarefuse.quantities", "snarefuse.yaml_input"]),
    ("spec", ["snarefuse.lumen", "snarefuse.protocol", "snarefuse.spec_types", "snarefuse.spec_fields", "snarefuse.spec"]),
    ("system", ["snarefuse.forcefield", "snarefuse.native", "snarefuse.formulations", "snarefuse.forces", "snarefuse.protein_bonds",
                "snarefuse.structure"]),
    # the run directory's layout sits below the builder (which saves into one) and the analyses (which read one);
    # the reporters write its log and trajectory, whose formats it checks before a run resumes
    ("run directory", ["snarefuse.rundir", "snarefuse.reporters"]),
    ("build and analysis", ["snarefuse.build", "snarefuse.analysis.base", "snarefuse.analysis.membrane",
                            "snarefuse.analysis.fusion", "snarefuse.analysis.contact", "snarefuse.analysis.zone",
                            "snarefuse.analysis.snare", "snarefuse.analysis.snare_geometry", "snarefuse.analysis.trigger",
                            "snarefuse.analysis.testsystems", "snarefuse.plot"]),
    ("run", ["snarefuse.runner", "snarefuse.run_options",
             "snarefuse.events", "snarefuse.export"]),
    ("after the run", ["snarefuse.analysis", "snarefuse.analysis.pipeline", "snarefuse.render"]),
    ("sweep", ["snarefuse.sweep", "snarefuse.sweep_workspace", "snarefuse.sweep_dask", "snarefuse.sweep_results"]),
    ("cli", ["snarefuse.cli", "snarefuse.cli_sweep", "snarefuse.cli_export"]),
    # the reference generator documents the CLI, so it reads the click definitions; nothing imports it
    ("tools", ["snarefuse.docs"]),
]


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path) -> set[str]:
    """Modules of the package that ``name`` imports (at any depth of its code, outside TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:  # 'from pkg import module' depends on the module, not on pkg's __init__
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            # a listed package holds its submodules, except the top package, which is only its __init__
            if (module == p or (p != "snarefuse" and module.startswith(p + "."))) and len(p) > best:
                best, level = len(p), i
    if level is None:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS in {__file__} (and docs/architecture.md)")
    return level


def test_every_module_has_a_layer() -> None:
    for m in MODULES:
        _layer(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module: str) -> None:
    mine = _layer(module)
    upward = sorted(f"{dep} ({LAYERS[_layer(dep)][0]})" for dep in GRAPH[module] if _layer(dep) > mine)
    assert not upward, f"{module} ({LAYERS[mine][0]}) imports upward: {', '.join(upward)}"


def test_the_import_graph_has_no_cycle() -> None:
    """Depth-first search; the first cycle found is printed module by module."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for dep in sorted(GRAPH[m]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = dfs(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state:
            cycle = dfs(m)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_reader_sees_relative_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """The reader on a known file: a relative import, one inside a function, one under TYPE_CHECKING."""
    f = tmp_path / "probe.py"
    f.write_text("from typing import TYPE_CHECKING\nfrom . import units\nif TYPE_CHECKING:\n"
                 "    from .cli import main\n\ndef g():\n    from .spec import load_spec\n")
    assert _imports("snarefuse.probe", f) == {"snarefuse.units", "snarefuse.spec"}


def test_nothing_but_the_cli_and_its_documentation_imports_the_cli() -> None:
    users = sorted(m for m, deps in GRAPH.items() if any(d.startswith("snarefuse.cli") for d in deps)
                   and not m.startswith("snarefuse.cli") and m != "snarefuse.docs")
    assert users == []
