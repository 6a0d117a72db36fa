"""The house stays in order: imports run down the layers, no circles, a light command line.

The layers, lowest first: ``errors``; ``io``; ``core``; ``model``; the run and
its uncertainty (``simulation``, ``uncertainty``, ``stats``, ``executor``);
``ensemble``; the experiments (``sensitivity``, ``calibration``, ``planning``,
``trials``) and ``validation``, which checks the input files of them all; ``cli``. A module
may import its own layer and those below, never above.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import peersim

SRC = Path(peersim.__file__).resolve().parent

LAYERS: dict[str, int] = {
    "errors": 0,
    "io": 1,
    "core": 2,
    "model": 3,
    "simulation": 4,
    "uncertainty": 4,
    "stats": 4,
    "executor": 4,
    "ensemble": 5,
    "sensitivity": 6,
    "calibration": 6,
    "planning": 6,
    "trials": 6,
    "validation": 6,
    "discovery": 6,
    "explore": 7,
    "cli": 8,
    "__main__": 9,
}
"""Layer of each top-level part of the package."""


def module_name(path: Path) -> str:
    parts = ["peersim", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The peersim modules a file imports, anywhere in it (TYPE_CHECKING blocks included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("peersim.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("peersim"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(
                    candidate
                    if (SRC.parent / (candidate.replace(".", "/") + ".py")).exists()
                    else node.module
                )
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in SRC.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {module.split(".")[1] for module in graph() if module.count(".") >= 1}
    unplaced = sorted(parts - set(LAYERS) - {"__init__", "_compat", "data", "templates"})
    assert not unplaced, f"add these to LAYERS: {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in graph().items()
        for target in targets
        if layer(source) is not None and layer(target) is not None and layer(target) > layer(source)  # type: ignore[operator]
    ]
    assert upward == []


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, set()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_there_are_no_import_circles() -> None:
    assert circles(graph()) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_command_line_imports_no_heavy_library() -> None:
    # `peersim --help` must not wait for Mesa (about 1.5 s), pandas, SciPy or matplotlib.
    code = (
        "import sys, peersim.cli.app\n"
        "heavy = {'mesa', 'pandas', 'scipy', 'matplotlib', 'pyarrow', 'pyabc', 'SALib', 'dask'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_an_old_module_path_still_works_and_warns_once() -> None:
    for name in [m for m in sys.modules if m == "peersim.scenario_io"]:
        del sys.modules[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = importlib.import_module("peersim.scenario_io")
        again = importlib.import_module("peersim.scenario_io")
    assert first is again
    load_scenario = first.load_scenario
    assert load_scenario is peersim.load_scenario
    moved = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(moved) == 1, [str(w.message) for w in caught]
    assert "peersim.core.scenario_files" in str(moved[0].message)


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("`out` runs/a: exists", "--out runs/a: exists"),
        ("use `force=True` to replace it", "use --force to replace it"),
        ('`scheduler` needs `executor="dask"`', "--scheduler needs --executor dask"),
        ("`sets` low.x=1: no value", "--set low.x=1: no value"),
        ("`posterior` and `use_posterior=False` contradict", "--posterior and --no-posterior contradict"),
        ("increase `n`; raise `ppc_draws`", "increase --n; raise --ppc-draws"),
        ("give each a distinct `label`", "give each a distinct `label`"),
    ],
)
def test_library_terms_become_command_line_options(message: str, shown: str) -> None:
    from peersim.cli.common import flags

    assert flags(message) == shown
