"""Benchmark: peak resident memory of the parent process for a large ensemble.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_memory.py [--replicates 5000] [--baseline 200] [--jobs 2]

Runs ``peersim run -n N -j J --out DIR --json`` on the embedded default
scenario in a fresh child process (the same code as the console command:
ensemble into a run store, then the summary and figure computed from the store)
and reports that process's peak resident set size, read with
``resource.getrusage(RUSAGE_SELF)`` at its end. Worker processes are separate
and not counted: the target is about the parent, whose memory must not grow
with N. The baseline is the same command with ``--baseline`` replicates,
measured in the same run. Target: under 500 MB for 5,000 replicates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB = 500.0

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from peersim.cli.app import _register, app
_register()
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"peak_mb": peak_kb / 1024, "seconds": time.perf_counter() - start}), file=sys.stderr)
"""


def measure(replicates: int, jobs: int, root: Path) -> dict[str, float]:
    out = root / f"store-{replicates}"
    command = [sys.executable, "-c", CHILD, "run", "-n", str(replicates), "-j", str(jobs)]
    command += ["--out", str(out), "--json"]
    result = subprocess.run(
        command,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    numbers: dict[str, float] = json.loads(result.stderr.strip().splitlines()[-1])
    numbers["store_mb"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replicates", type=int, default=5000, help="replicates of the large run (default 5000)"
    )
    parser.add_argument(
        "--baseline", type=int, default=200, help="replicates of the baseline run (default 200)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="peersim-bench-") as tmp:
        root = Path(tmp)
        results = {}
        for n in (args.baseline, args.replicates):
            started = time.strftime("%H:%M:%S")
            results[n] = measure(n, args.jobs, root)
            r = results[n]
            print(
                f"{n:6d} replicates (started {started}): parent peak RSS {r['peak_mb']:7.1f} MB, "
                f"{r['seconds']:7.1f} s ({n / r['seconds']:.1f} replicates/s), store {r['store_mb']:.0f} MB"
            )
    big, base = results[args.replicates], results[args.baseline]
    ratio = big["peak_mb"] / base["peak_mb"]
    print(f"ratio peak RSS {args.replicates} / {args.baseline} replicates: {ratio:.2f}")
    verdict = "meets" if big["peak_mb"] < TARGET_MB else "MISSES"
    print(f"target < {TARGET_MB:.0f} MB for {args.replicates} replicates: {verdict}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
