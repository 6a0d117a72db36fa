"""Benchmark: ensemble throughput with 1 and 2 local jobs, and on a Dask LocalCluster.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_ensemble.py [--replicates 200] [--repeats 3]

Each configuration runs ``--replicates`` replicates of the embedded default
scenario (7 sites, about 590 participants) into a fresh run store, as
``peersim run --out`` does (batching, Parquet encoding in the workers, atomic
writes in the parent), and prints the median replicates per second.

* **cli**: the whole ``peersim run -n N -j J --out DIR --json`` command in a
  fresh process: imports, pool or cluster start-up, the ensemble, and the
  summary and figure computed from the store (what a user waits for);
* **warm**: in this process, with the executor already running (one small
  ensemble first), as in a notebook that reuses it or a long-lived Dask
  cluster: the ensemble alone.

The baseline is ``--jobs 1`` (sequential), measured in the same run.
Targets: ``--jobs 2`` at least 1.7x the baseline; Dask with 2 workers within
20% of the local pool with 2 workers. Numbers depend on the load of the
machine: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from peersim import default_scenario
from peersim.core.overrides import ScenarioSource
from peersim.core.scenario_files import default_scenario_text
from peersim.ensemble.batches import EnsembleJob, run_ensembles
from peersim.ensemble.runstore import RunStore
from peersim.executor import DaskExecutor, Executor, LocalExecutor

SPEED_UP_TARGET = 1.7
DASK_TOLERANCE = 0.20


def ensemble_seconds(executor: Executor, replicates: int, directory: Path, seed: int) -> float:
    """Run ``replicates`` into a new store in ``directory``; return the seconds taken."""
    scenario = default_scenario()
    source = ScenarioSource(scenario, default_scenario_text(), "<embedded>")
    start = time.perf_counter()
    store = RunStore.open_for_writing(directory, source, seed)
    (report,) = run_ensembles([EnsembleJob(scenario, store)], seed, replicates, executor)
    seconds = time.perf_counter() - start
    if report.finished != replicates or report.failures:
        raise RuntimeError(f"ensemble incomplete: {report}")
    return seconds


def median_rate(times: list[float], replicates: int) -> float:
    return replicates / statistics.median(times)


def measure_warm(make: Callable[[], Executor], replicates: int, repeats: int, root: Path) -> list[float]:
    times = []
    with make() as executor:
        ensemble_seconds(executor, 2 * executor.workers, root / f"warm-up-{time.monotonic_ns()}", seed=999)
        for k in range(repeats):
            directory = root / f"store-{time.monotonic_ns()}"
            times.append(ensemble_seconds(executor, replicates, directory, seed=k))
            shutil.rmtree(directory)
    return times


def measure_cli(options: list[str], replicates: int, repeats: int, root: Path) -> list[float]:
    times = []
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for k in range(repeats):
        directory = root / f"cli-{time.monotonic_ns()}"
        command = [sys.executable, "-m", "peersim", "run", "-n", str(replicates), "--seed", str(k)]
        command += [*options, "--out", str(directory), "--json"]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
        shutil.rmtree(directory)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200, help="replicates per ensemble (default 200)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed ensembles per configuration (default 3)"
    )
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask configurations")
    args = parser.parse_args()
    n = args.replicates
    load_before = os.getloadavg()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPU(s), load average {load_before[0]:.2f}")
    print(f"{n} replicates of the default scenario into a run store, median of {args.repeats}\n")

    configurations: dict[str, tuple[list[str], Callable[[], Executor]]] = {
        "local --jobs 1": (["-j", "1"], lambda: LocalExecutor(1)),
        "local --jobs 2": (["-j", "2"], lambda: LocalExecutor(2)),
    }
    if not args.no_dask:
        configurations["dask LocalCluster, 2 workers"] = (
            ["--executor", "dask", "-j", "2"],
            lambda: DaskExecutor(workers=2),
        )
    rates: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="peersim-bench-") as tmp:
        root = Path(tmp)
        for mode in ("cli", "warm"):
            for name, (options, make) in configurations.items():
                if mode == "cli":
                    times = measure_cli(options, n, args.repeats, root)
                else:
                    times = measure_warm(make, n, args.repeats, root)
                rates[(name, mode)] = median_rate(times, n)
                print(
                    f"{name:30s} {mode}: median {statistics.median(times):6.2f} s "
                    f"({rates[(name, mode)]:5.1f} replicates/s; all {', '.join(f'{t:.2f}' for t in times)})"
                )
    print()
    for mode in ("cli", "warm"):
        ratio = rates[("local --jobs 2", mode)] / rates[("local --jobs 1", mode)]
        verdict = "meets" if ratio >= SPEED_UP_TARGET else "MISSES"
        print(f"--jobs 2 / --jobs 1 ({mode}): {ratio:.2f}x  (target >= {SPEED_UP_TARGET}x: {verdict})")
    if not args.no_dask:
        for mode in ("cli", "warm"):
            ratio = rates[("dask LocalCluster, 2 workers", mode)] / rates[("local --jobs 2", mode)]
            verdict = "meets" if ratio >= 1 - DASK_TOLERANCE else "MISSES"
            print(
                f"dask / local --jobs 2 ({mode}): {ratio:.2f}  "
                f"(target >= {1 - DASK_TOLERANCE:.2f}: {verdict})"
            )
    print(f"\nload average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
