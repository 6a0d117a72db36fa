"""Benchmark: peak resident memory of the parent process, small and huge ensembles.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_memory.py [--replicates N] [--baseline 100] [--seconds 20] [--jobs 2]

Runs ``peersim run -n N -j J --out DIR --json`` on the embedded default
scenario in a fresh child process (the console command itself: ensemble into a
run store, then the summary and figure computed from the store) and reports
that process's peak resident set size, read with
``resource.getrusage(RUSAGE_SELF)`` at its end. Worker processes are separate
and not counted: the target is the parent, whose memory must not grow with N.

Three measurements, in one run so that they see one machine state:

1. ``--baseline`` replicates, Ctrl-C (SIGINT to the process group) after ``--seconds``;
2. ``--replicates`` (default: the declared maximum), Ctrl-C after ``--seconds``;
3. ``--baseline`` replicates to the end, with the summary files and figure.

(1) and (2) are in the same phase of the work, so their ratio is the growth
with N of what the parent holds while running (target: below 1.05). (3) adds
what summarising a store costs (matplotlib, the tables read back).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peersim.ensemble.workflow import MAX_REPLICATES

RATIO_TARGET = 1.05

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from peersim.cli.app import main
sys.argv = ["peersim", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as stop:
    code = stop.code if isinstance(stop.code, int) else 1
finally:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mb": peak_kb / 1024, "seconds": seconds, "exit": code}), file=sys.stderr)
"""


def measure(replicates: int, jobs: int, root: Path, interrupt_after: float | None) -> dict[str, float]:
    """Run the command in a child process; with ``interrupt_after``, Ctrl-C it after that many seconds."""
    out = root / f"store-{replicates}-{'stopped' if interrupt_after else 'whole'}"
    command = [sys.executable, "-c", CHILD, "run", "-n", str(replicates), "-j", str(jobs)]
    command += ["--out", str(out), "--json"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    if interrupt_after is not None:
        started = time.monotonic()
        parts = out / "metrics"
        while process.poll() is None:
            ran = time.monotonic() - started
            if ran >= interrupt_after and parts.is_dir() and any(parts.glob("part-*.parquet")):
                os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
                break
            time.sleep(0.1)
    _, stderr = process.communicate(timeout=600)
    numbers: dict[str, float] = json.loads(stderr.strip().splitlines()[-1])
    numbers["kept"] = float(sum(1 for _ in (out / "metrics").glob("part-*.parquet")))
    numbers["store_mb"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replicates",
        type=int,
        default=MAX_REPLICATES,
        help=f"replicates of the large run (default: the maximum, {MAX_REPLICATES})",
    )
    parser.add_argument(
        "--baseline", type=int, default=100, help="replicates of the small runs (default 100)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Ctrl-C after this long (default 20)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}"
    )
    runs = (
        (f"{args.baseline} replicates, Ctrl-C after {args.seconds:.0f} s", args.baseline, args.seconds),
        (f"{args.replicates} replicates, Ctrl-C after {args.seconds:.0f} s", args.replicates, args.seconds),
        (f"{args.baseline} replicates to the end, with summary", args.baseline, None),
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="peersim-bench-") as tmp:
        for label, n, seconds in runs:
            r = measure(n, args.jobs, Path(tmp), seconds)
            results.append(r)
            print(
                f"{label:48s}: parent peak RSS {r['peak_mb']:7.1f} MB, {r['seconds']:6.1f} s, "
                f"exit {r['exit']:.0f}, {r['kept']:.0f} batch(es) kept, store {r['store_mb']:.1f} MB"
            )
    ratio = results[1]["peak_mb"] / results[0]["peak_mb"]
    verdict = "meets" if ratio < RATIO_TARGET else "MISSES"
    print(f"ratio peak RSS {args.replicates} / {args.baseline} replicates while running: {ratio:.3f}")
    print(f"target ratio < {RATIO_TARGET}: {verdict}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
