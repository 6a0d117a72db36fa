"""Same seed, same numbers: across processes, replicates and executors."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peersim
from conftest import TINY_TOML
from peersim.core.results import TABLES, RunResult
from peersim.core.scenario import Scenario
from peersim.core.streams import replicate_seed, replicate_seeds
from peersim.executor import LocalExecutor, TaskFailure
from peersim.simulation import Runner

SRC = Path(peersim.__file__).resolve().parent
SEED = 20240611

WRITE_TABLES = """\
import sys
from pathlib import Path

import peersim
from peersim.core.scenario_files import parse_scenario

scenario_file, seed, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
scenario = parse_scenario(scenario_file.read_text(encoding="utf-8"), source=str(scenario_file))
for name, table in peersim.run(scenario, seed).tables().items():
    table.to_parquet(out / f"{name}.parquet", index=False)
"""


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert set(a) == set(b) == set(TABLES)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def assert_same_results(a: RunResult, b: RunResult) -> None:
    assert (a.seed, a.spawn_key, a.scenario_hash) == (b.seed, b.spawn_key, b.scenario_hash)
    assert_same_tables(a.tables(), b.tables())


def test_same_seed_same_tables_in_this_process(tiny_scenario: Scenario) -> None:
    assert_same_results(peersim.run(tiny_scenario, SEED), peersim.run(tiny_scenario, SEED))


def test_same_seed_same_tables_in_fresh_processes(tmp_path: Path, tiny_scenario: Scenario) -> None:
    script = tmp_path / "write_tables.py"
    script.write_text(WRITE_TABLES, encoding="utf-8")
    scenario_file = tmp_path / "tiny.toml"
    scenario_file.write_text(TINY_TOML, encoding="utf-8")
    outs = [tmp_path / "first", tmp_path / "second"]
    for out in outs:
        out.mkdir()

    def fresh(out: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(script), str(scenario_file), str(SEED), str(out)]
        # A different hash seed per process: nothing may depend on set or dict-of-str ordering.
        env = {**os.environ, "PYTHONHASHSEED": str(len(out.name))}
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(fresh, outs))
    for process in done:
        assert process.returncode == 0, process.stderr

    here = peersim.run(tiny_scenario, SEED).tables()
    tables = [{name: pd.read_parquet(out / f"{name}.parquet") for name in here} for out in outs]
    assert_same_tables(tables[0], tables[1])
    assert_same_tables(here, tables[0])


def test_different_seeds_give_different_metrics(tiny_scenario: Scenario) -> None:
    a = peersim.run(tiny_scenario, 1).metrics
    b = peersim.run(tiny_scenario, 2).metrics
    assert a[["site", "metric"]].equals(b[["site", "metric"]])
    same = np.isclose(a["value"], b["value"], equal_nan=True)
    assert not same.all()


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_replicate_seed_is_the_spawned_child(seed: int) -> None:
    spawned = replicate_seeds(seed, 6)
    for index in range(6):
        child = replicate_seed(seed, index)
        assert child.entropy == spawned[index].entropy
        assert child.spawn_key == spawned[index].spawn_key
        np.testing.assert_array_equal(child.generate_state(8), spawned[index].generate_state(8))
    # Adding replicates never changes the earlier ones.
    more = replicate_seeds(seed, 9)
    for index in range(6):
        np.testing.assert_array_equal(more[index].generate_state(4), spawned[index].generate_state(4))


def test_replicate_seeds_do_not_depend_on_earlier_spawns() -> None:
    root = np.random.SeedSequence(11)
    root.spawn(3)
    used = replicate_seeds(root, 2)
    fresh = replicate_seeds(np.random.SeedSequence(11), 2)
    for a, b in zip(used, fresh, strict=True):
        assert a.spawn_key == b.spawn_key
        np.testing.assert_array_equal(a.generate_state(4), b.generate_state(4))


def test_run_replicates_matches_run_with_replicate_seed(tiny_scenario: Scenario) -> None:
    results = list(peersim.run_replicates(tiny_scenario, SEED, 3))
    assert len(results) == 3
    for index, result in enumerate(results):
        assert result.replicate == index
        assert result.seed == SEED
        assert_same_results(result, peersim.run(tiny_scenario, replicate_seed(SEED, index)))
    assert not results[0].metrics["value"].equals(results[1].metrics["value"])


def test_run_replicates_rejects_zero_replicates(tiny_scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(peersim.run_replicates(tiny_scenario, SEED, 0))


def test_process_pool_gives_the_sequential_results(tiny_scenario: Scenario) -> None:
    one = partial(Runner().replicate, tiny_scenario, SEED)
    with LocalExecutor(jobs=2) as executor:
        done = dict(executor.imap_unordered(one, [0, 1, 2]))
    pooled = [done[index] for index in range(3)]
    sequential = list(peersim.run_replicates(tiny_scenario, SEED, 3))
    for index, (outcome, expected) in enumerate(zip(pooled, sequential, strict=True)):
        assert not isinstance(outcome, TaskFailure), outcome
        assert outcome.replicate == index
        assert_same_results(outcome, expected)


# -- no global random state anywhere in the package --------------------------------------------

ALLOWED_NP_RANDOM = {"default_rng", "SeedSequence", "Generator"}
EXEMPT = "noqa: NPY002"
"""A line carrying ruff's own exemption for legacy numpy random calls is a reviewed,
documented exception (seeding a third-party library's global state); nothing else is."""


def _global_random_uses(path: Path, root: Path = SRC.parent) -> list[str]:
    text = path.read_text(encoding="utf-8")
    exempt_lines = {number for number, line in enumerate(text.splitlines(), 1) if EXEMPT in line}
    tree = ast.parse(text, filename=str(path))
    numpy_names = {"numpy"}
    random_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "numpy":
                    numpy_names.add(alias.asname or "numpy")
                if alias.name == "numpy.random":
                    random_modules.add(alias.asname or "numpy.random")
    name = path.relative_to(root)
    problems = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            problems += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] == "random"]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] == "random":
                problems.append(f"{where}: from {module} import ...")
            if module == "numpy.random":
                problems += [
                    f"{where}: from numpy.random import {a.name}"
                    for a in node.names
                    if a.name not in ALLOWED_NP_RANDOM
                ]
            if module == "numpy" and any(a.name == "random" for a in node.names):
                problems.append(f"{where}: from numpy import random")
        elif isinstance(node, ast.Attribute):
            owner = node.value
            is_np_random = (
                isinstance(owner, ast.Attribute)
                and owner.attr == "random"
                and isinstance(owner.value, ast.Name)
                and owner.value.id in numpy_names
            ) or (isinstance(owner, ast.Name) and owner.id in random_modules)
            if is_np_random and node.attr not in ALLOWED_NP_RANDOM and node.lineno not in exempt_lines:
                problems.append(f"{where}: np.random.{node.attr}")
    return problems


def test_no_module_uses_global_random_state() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    problems = [problem for path in files for problem in _global_random_uses(path)]
    assert not problems, "global random state used:\n" + "\n".join(problems)


def test_the_random_state_check_catches_offenders(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import random\n"
        "import numpy as np\n"
        "from numpy.random import normal\n"
        "x = np.random.poisson(3)\n"
        "y = np.random.default_rng(1).poisson(3)\n"
        "s = np.random.SeedSequence(1)\n"
        "np.random.seed(3)  # noqa: NPY002 - a third-party library's global state\n"
        "np.random.seed(4)\n",
        encoding="utf-8",
    )
    problems = _global_random_uses(probe, root=tmp_path)
    assert len(problems) == 4, problems
    assert any("probe.py:8: np.random.seed" in p for p in problems)
    assert any("import random" in p for p in problems)
    assert any("normal" in p for p in problems)
    assert any("np.random.poisson" in p for p in problems)
