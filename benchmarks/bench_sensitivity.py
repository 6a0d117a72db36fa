"""Benchmark: a Sobol' analysis of the default factors (11 + dummy) at N = 512 on the default scenario.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_sensitivity.py [--n 512] [--replicates 2] [--jobs 2]

It runs ``peersim sensitivity``'s engine exactly as the CLI does, with its
defaults: the embedded factors (``scenarios/factors_default.toml``: 11 factors,
plus the dummy), the embedded 7-site ENRICH-like scenario, 2 replicates per
point on common random numbers, first and total-order indices (N (D + 2) points
with D = 12), the local process pool. Target: at most 15 minutes on a 2-core
machine.

As a baseline it first times single runs of the same scenario in this process
(median of 5), and reports the analysis's wall time against the ideal
``runs x median / jobs``. It prints the load average before and after (other
processes on the machine slow it down), and the top factors by ST for
``engagement_rate``, ``fidelity_index`` and ``readmission_rate_intervention``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from peersim import default_scenario, run
from peersim.executor import make_executor
from peersim.sensitivity import PeersimTarget, default_factors, run_sensitivity
from peersim.sensitivity.design import points_for
from peersim.sensitivity.workflow import CENTRE_REPLICATES

TARGET_SECONDS = 15 * 60
OUTPUTS = ("engagement_rate", "fidelity_index", "readmission_rate_intervention")


def _worker_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of every descendant process, by pid (Linux /proc; else empty)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    parents: dict[int, int] = {}
    ticks: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out = {}
    for pid in ticks:
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor == me:
            out[pid] = ticks[pid]
    return out


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="Sobol' base samples (default 512)")
    parser.add_argument("--replicates", type=int, default=2, help="replicates per point (CLI default 2)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write tables, JSON and the figure here")
    args = parser.parse_args()

    scenario = default_scenario()
    space = default_factors(scenario)
    target = PeersimTarget(scenario, space, OUTPUTS)
    points = points_for("sobol", args.n, len(space.factors) + 1)
    runs = points * args.replicates + CENTRE_REPLICATES

    run(scenario, 0)  # warm-up
    singles = []
    for seed in range(1, 6):
        start = time.perf_counter()
        run(scenario, seed)
        singles.append(time.perf_counter() - start)
    single = statistics.median(singles)

    print(f"cores {os.cpu_count()}, jobs {args.jobs}, load average before: {_load()}")
    print(
        f"sobol N = {args.n}, {len(space.factors)} factors + dummy, {points} points x "
        f"{args.replicates} replicates + {CENTRE_REPLICATES} centre runs = {runs} runs"
    )
    print(f"baseline: one run of the default scenario, median of 5: {single * 1e3:.1f} ms")

    done = 0
    cpu: dict[int, float] = {}
    start = time.perf_counter()

    def tick(_index: int) -> None:
        nonlocal done
        done += 1
        if done % 100 == 0:
            cpu.update(_worker_cpu())  # workers exit with the pool: keep their last reading
        if done % 1000 == 0:
            elapsed = time.perf_counter() - start
            print(f"  {done}/{points} points, {elapsed:.0f} s, load {_load()}", flush=True)

    with make_executor("local", args.jobs) as pool:
        result = run_sensitivity(
            space, target, "sobol", args.n, args.replicates, args.seed, executor=pool, on_done=tick
        )
    elapsed = time.perf_counter() - start
    ideal = runs * single / args.jobs
    print(f"load average after: {_load()}")
    print(f"elapsed {elapsed:.1f} s ({elapsed / 60:.1f} min), {runs / elapsed:.1f} runs/s")
    print(f"ratio elapsed / ideal (runs x baseline / jobs = {ideal:.0f} s): {elapsed / ideal:.2f}")
    verdict = "meets" if elapsed <= TARGET_SECONDS else "MISSES"
    print(f"target <= {TARGET_SECONDS / 60:.0f} min: {verdict}")
    if cpu:
        busy = sum(cpu.values())
        print(
            f"worker CPU {busy:.0f} s ({busy / runs * 1e3:.1f} ms per run); on an otherwise idle machine "
            f"about {busy / args.jobs / 60:.1f} min of wall time (worker CPU / jobs)"
        )
    for output in OUTPUTS:
        diag = result.analysis.diagnostics.set_index("output").loc[output]
        print(
            f"\n{output}: noise share {diag['noise_share']:.3f}, "
            f"dummy threshold ST <= {diag['threshold']:.3f}, settled: {bool(diag['settled'])}"
        )
        table = result.analysis.screening
        rows = table[table["output"] == output]
        indices = result.analysis.indices
        s1 = indices[(indices["output"] == output) & (indices["index"] == "S1") & (indices["n"] == args.n)]
        s1 = s1.set_index("factor")
        for row in rows.itertuples():
            flag = "threshold" if row.factor == "dummy" else ("" if row.influential else "non-influential")
            print(
                f"  {row.factor:<34} ST {row.value:6.3f} ± {row.conf:5.3f}   "
                f"S1 {s1.loc[row.factor, 'value']:6.3f} ± {s1.loc[row.factor, 'conf']:5.3f}  {flag}"
            )
    for message in result.warnings:
        print(f"warning: {message}")
    if args.out is not None:
        from peersim.sensitivity.figures import sensitivity_figure
        from peersim.sensitivity.report import OutputDirectory, write_sensitivity_outputs

        directory = OutputDirectory(args.out, force=True)
        write_sensitivity_outputs(directory, result)
        figure = sensitivity_figure("sobol", result.analysis.indices, result.analysis.screening, "benchmark")
        figure.savefig(directory.file("sobol.png"), dpi=120)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
