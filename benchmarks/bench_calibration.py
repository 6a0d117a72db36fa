"""Benchmark: wall time of ``peersim calibrate --quick`` and of the full default calibration.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_calibration.py [--skip-full] [--jobs 2]

Each budget runs end to end as the command does (ABC-SMC on the embedded
default scenario with the packaged default targets, then the posterior
predictive check and the report) into a temporary directory. Before them, in
the same process, it times single runs of the default scenario on one core as
the baseline, and prints every budget as seconds, model evaluations per second
and its ratio to the baseline, together with the 1-minute load average at start
and end (the machine may be shared). Targets: ``--quick`` within 2 minutes,
the full default within 30 minutes, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from peersim import default_scenario, run
from peersim.calibration.smc import FULL, QUICK, CalibrationProblem, CalibrationSettings
from peersim.calibration.workflow import calibrate

TARGETS = {"quick": 120.0, "full": 1800.0}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min)"


def baseline(repeats: int) -> float:
    scenario = default_scenario()
    run(scenario, 0)
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        run(scenario, seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed(name: str, settings: CalibrationSettings, per_run: float, keep: Path | None = None) -> None:
    problem = CalibrationProblem.load()  # the packaged default targets and scenario
    with tempfile.TemporaryDirectory() as folder:
        out = keep if keep is not None else Path(folder) / name
        print(f"{name}: start, {load()}", flush=True)
        start = time.perf_counter()
        result = calibrate(problem, settings, out / "history.db", out)
        seconds = time.perf_counter() - start
    evaluations = result.outcome.evaluations + settings.population  # + pyabc's calibration sample
    runs = evaluations * settings.replicates + 2 * settings.ppc_draws  # posterior and prior predictive
    print(
        f"{name}: {seconds:.0f} s (target {TARGETS[name]:.0f} s: "
        f"{'met' if seconds <= TARGETS[name] else 'MISSED'}); population {settings.population}, "
        f"{result.outcome.generations} generations, {evaluations} evaluations x {settings.replicates} "
        f"replicate(s) + 2 x {settings.ppc_draws} check runs = {runs} runs, {runs / seconds:.1f} runs/s "
        f"on {settings.workers} process(es) = {runs * per_run / seconds:.2f}x one core at the baseline; "
        f"ABC {result.outcome.seconds:.0f} s; ESS {result.outcome.posterior.effective_sample_size:.0f}; "
        f"end {load()}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-full", action="store_true", help="Time --quick only.")
    parser.add_argument("--jobs", type=int, default=None, help="Worker processes (default: CPU cores).")
    parser.add_argument("--repeats", type=int, default=10, help="Baseline single runs.")
    parser.add_argument(
        "--keep-full",
        type=Path,
        default=None,
        help="Write the full calibration's outputs here (as `peersim calibrate --out DIR --seed 0`).",
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPU(s), {load()}")
    per_run = baseline(args.repeats)
    print(f"baseline: median {per_run * 1000:.0f} ms per default-scenario run on one core")
    timed("quick", replace(QUICK, jobs=args.jobs), per_run)
    if not args.skip_full:
        timed("full", replace(FULL, jobs=args.jobs), per_run, args.keep_full)


if __name__ == "__main__":
    main()
