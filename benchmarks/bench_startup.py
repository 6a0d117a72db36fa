"""Benchmark: time to a first answer, as whole commands, each pair measured side by side.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5]

Every figure is the median wall time of a whole ``peersim`` process (imports,
pool start-up, work and output), and every pair runs in turn (A B A B ...), so
that a ratio compares two commands on the same machine state:

* ``--help`` of the app and of each command (target: under 0.5 s);
* the default ``peersim run`` (10 replicates) against ``peersim run --jobs 1``
  (target: never slower, ratio <= 1);
* ``peersim run -n 100 --jobs 2`` against ``--jobs 1`` (target: at least 1.6x faster);
* a worker pool's start: in a fresh process, seconds from asking for a 2-worker
  pool to both workers having answered, cold and with the forkserver started when
  the command began (as ``peersim`` commands do) (target: under 1 s warm).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

HELP_TARGET = 0.5
SPEED_UP_TARGET = 1.6
POOL_TARGET = 1.0
COMMANDS = (
    "run",
    "compare",
    "plot",
    "validate",
    "schema",
    "sensitivity",
    "calibrate",
    "ppc",
    "plan",
    "trials",
)

POOL_PROBE = """\
import sys, time
from peersim.executor import LocalExecutor, warm_up
begun = time.perf_counter()
if sys.argv[1] == "warm":
    warm_up()
    import pandas  # what a command imports meanwhile (about 1 s)
asked = time.perf_counter()
with LocalExecutor(2) as pool:
    answers = list(pool.imap_unordered(abs, [-1, -2, -3, -4]))
print(time.perf_counter() - asked)
"""


def wall(command: Sequence[str]) -> float:
    """Seconds a whole command takes (output discarded; a failure stops the benchmark)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def pool_seconds(mode: str) -> float:
    """Seconds from asking for a 2-worker pool to its answers, printed by a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", POOL_PROBE, mode], check=True, capture_output=True, text=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def paired(a: Sequence[str], b: Sequence[str], repeats: int) -> tuple[list[float], list[float]]:
    """Wall times of ``a`` and ``b`` run in turn, after one warm-up of each."""
    wall(a)
    wall(b)
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(wall(a))
        times_b.append(wall(b))
    return times_a, times_b


def describe(times: list[float]) -> str:
    return f"median {statistics.median(times):6.2f} s (min {min(times):.2f}, max {max(times):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command (default 5)")
    args = parser.parse_args()
    peersim = [sys.executable, "-m", "peersim"]
    load = os.getloadavg()[0]
    print(f"python {platform.python_version()}, {os.cpu_count()} CPU(s), load average {load:.2f}\n")

    helps = {"peersim --help": [*peersim, "--help"]}
    helps |= {f"peersim {name} --help": [*peersim, name, "--help"] for name in COMMANDS}
    slowest = 0.0
    for label, command in helps.items():
        wall(command)
        times = [wall(command) for _ in range(args.repeats)]
        slowest = max(slowest, statistics.median(times))
        print(f"{label:28s} {describe(times)}")
    verdict = "meets" if slowest < HELP_TARGET else "MISSES"
    print(f"slowest --help median {slowest:.2f} s (target < {HELP_TARGET} s: {verdict})\n")

    default, one = paired([*peersim, "run"], [*peersim, "run", "--jobs", "1"], args.repeats)
    ratios = [a / b for a, b in zip(default, one, strict=True)]
    print(f"peersim run                  {describe(default)}")
    print(f"peersim run --jobs 1         {describe(one)}")
    verdict = "meets" if statistics.median(ratios) <= 1.0 else "MISSES"
    print(f"default / --jobs 1: median ratio {statistics.median(ratios):.2f} (target <= 1: {verdict})\n")

    two, one = paired(
        [*peersim, "run", "-n", "100", "--jobs", "2"],
        [*peersim, "run", "-n", "100", "--jobs", "1"],
        args.repeats,
    )
    speed_ups = [b / a for a, b in zip(two, one, strict=True)]
    print(f"peersim run -n 100 --jobs 2  {describe(two)}")
    print(f"peersim run -n 100 --jobs 1  {describe(one)}")
    verdict = "meets" if statistics.median(speed_ups) >= SPEED_UP_TARGET else "MISSES"
    print(
        f"--jobs 1 / --jobs 2: median speed-up {statistics.median(speed_ups):.2f}x "
        f"(target >= {SPEED_UP_TARGET}x: {verdict})\n"
    )

    cold, warm = [], []
    for _ in range(args.repeats):
        cold.append(pool_seconds("cold"))
        warm.append(pool_seconds("warm"))
    print(f"2-worker pool, cold          {describe(cold)}")
    print(f"2-worker pool, forkserver started at the command's start {describe(warm)}")
    verdict = "meets" if statistics.median(warm) < POOL_TARGET else "MISSES"
    print(f"pool ready (warm) median {statistics.median(warm):.2f} s (target < {POOL_TARGET} s: {verdict})")
    print(f"\nload average before {load:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
