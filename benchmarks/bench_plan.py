"""Benchmark: wall time of ``peersim plan`` on the shipped example, against single runs.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_plan.py [--replicates 40] [--jobs 2] [--repeats 1] [--no-posterior]

It runs the real command in a subprocess, as a user would::

    peersim plan scenarios/new_site_example.toml --costs scenarios/costs_default.toml \\
        --budget 100000 --target engagement_rate>=0.5 --replicates 40 --jobs 2 --json

(mechanism strengths drawn from the shipped posterior, the command's default;
``--no-posterior`` passes ``--no-posterior`` on, for the scenario's point
values) and, in this process, times single runs of the example site the same
way, one posterior draw each (the baseline, measured in the same session). It prints the median wall time of
the command, the model runs it made (from its JSON), runs per second, the
ideal time (runs x median single run / jobs) and the ratio of the two, and the
load average before and after: the machine may be shared, and a load above the
number of cores slows everything down.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from peersim.core.scenario_files import load_scenario
from peersim.core.streams import replicate_seed
from peersim.simulation import Runner
from peersim.uncertainty import resolve_posterior

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "scenarios" / "new_site_example.toml"
COSTS = REPO / "scenarios" / "costs_default.toml"


def load() -> str:
    """Load averages over 1, 5 and 15 minutes, as ``uptime`` shows them."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def single_runs(repeats: int, use_posterior: bool) -> list[float]:
    scenario = load_scenario(EXAMPLE)
    run = Runner(resolve_posterior(None, use_posterior))
    run(scenario, 0)  # warm-up
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        run(scenario, replicate_seed(1, index))
        times.append(time.perf_counter() - start)
    return times


def plan_once(replicates: int, jobs: int, seed: int, use_posterior: bool) -> tuple[float, dict[str, object]]:
    command = [
        sys.executable,
        "-m",
        "peersim",
        "plan",
        str(EXAMPLE),
        "--costs",
        str(COSTS),
        "--budget",
        "100000",
        "--target",
        "engagement_rate>=0.5",
        "--replicates",
        str(replicates),
        "--jobs",
        str(jobs),
        "--seed",
        str(seed),
        "--json",
        *([] if use_posterior else ["--no-posterior"]),
    ]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"peersim plan failed ({done.returncode}):\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=40, help="--replicates of the plan (default 40)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of the plan (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="timed plans (default 1; each takes minutes)")
    parser.add_argument("--single", type=int, default=20, help="timed single runs for the baseline")
    parser.add_argument(
        "--no-posterior", action="store_true", help="the scenario's point values, not the shipped posterior"
    )
    args = parser.parse_args()
    use_posterior = not args.no_posterior

    before = load()
    baseline = statistics.median(single_runs(args.single, use_posterior))
    timings = []
    document: dict[str, object] = {}
    for repeat in range(args.repeats):
        seconds, document = plan_once(args.replicates, args.jobs, repeat, use_posterior)
        timings.append(seconds)
    after = load()
    wall = statistics.median(timings)
    runs = int(document["runs"])  # type: ignore[call-overload]
    ideal = runs * baseline / args.jobs
    search = document["search"]
    assert isinstance(search, dict)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"load average (1, 5, 15 min) before {before}; after {after}")
    posterior = document["posterior"]
    assert isinstance(posterior, dict)
    print(f"mechanism strengths: {posterior['source'] or posterior['note']}")
    print(f"single run of the example site      median {baseline * 1e3:7.1f} ms ({args.single} runs)")
    print(
        f"peersim plan (--replicates {args.replicates}, --jobs {args.jobs})  median {wall:7.1f} s "
        f"over {args.repeats} repeat(s); plans {document['grid_plans']}, model runs {runs}"
    )
    print(f"  in-command time (JSON 'seconds')  {document['seconds']} s; runs per second {runs / wall:.1f}")
    print(f"  ideal (runs x single run / jobs)  {ideal:7.1f} s; ratio wall / ideal {wall / ideal:.2f}")
    print(f"  status {search['status']}: {' '.join(search['answer'])}")


if __name__ == "__main__":
    main()
