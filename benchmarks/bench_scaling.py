"""Benchmark: how run time grows with service size, one fresh process per size.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_scaling.py [--repeats 3] [--sizes 70,210] [--json]

For each size N it builds a service-mode scenario (``mode = "service"``) of N
sites, a repeating mix of five realistic sites (urban and rural, NHS- and
not-for-profit-hosted, prepared and unprepared teams) with about 2.1 eligible
admissions a week each, over 3 years of admissions (``recruitment_weeks = 156``)
and 12 months of follow-up: about 23 000 participants at N = 70 and 69 000 at
N = 210. Each size runs in a fresh child process, so peak memory is per size:
one warm-up ``peersim.run``, then ``--repeats`` timed runs. It prints, per size,
the median seconds, participants, seconds per 1000 participants and the child's
peak resident set size (``resource.getrusage(RUSAGE_SELF)``), then, between the
smallest and the largest size measured in this run, the time ratio against the
size ratio and the growth exponent ``log(t_large / t_small) / log(n_large / n_small)``
(1.0: time grows as fast as the size; above 1: faster).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
from typing import Any

RECRUITMENT_WEEKS = 156
FOLLOW_UP_WEEKS = 52

SITE_MIX: tuple[dict[str, Any], ...] = (
    {
        "host": "nhs",
        "geography": "urban",
        "travel_minutes_one_way": 15,
        "n_peer_workers": 5,
        "peer_worker_hours_per_week": 22.5,
        "supervisor_hours_per_week": 10,
        "team_prep_sessions": 4,
        "team_joint_work_hours_per_month": 4,
        "ward_acceptance_baseline": 0.6,
        "eligible_admissions_per_week": 2.3,
        "caseload_cap": 8,
    },
    {
        "host": "nhs",
        "geography": "urban",
        "travel_minutes_one_way": 20,
        "n_peer_workers": 4,
        "peer_worker_hours_per_week": 22.5,
        "supervisor_hours_per_week": 6,
        "team_prep_sessions": 2,
        "team_joint_work_hours_per_month": 2,
        "ward_acceptance_baseline": 0.5,
        "eligible_admissions_per_week": 2.1,
        "caseload_cap": 8,
    },
    {
        "host": "not_for_profit",
        "geography": "urban",
        "travel_minutes_one_way": 20,
        "n_peer_workers": 5,
        "peer_worker_hours_per_week": 22.5,
        "supervisor_hours_per_week": 5,
        "team_prep_sessions": 1,
        "team_joint_work_hours_per_month": 1,
        "ward_acceptance_baseline": 0.45,
        "eligible_admissions_per_week": 2.2,
        "caseload_cap": 8,
    },
    {
        "host": "nhs",
        "geography": "rural",
        "travel_minutes_one_way": 40,
        "n_peer_workers": 4,
        "peer_worker_hours_per_week": 22.5,
        "supervisor_hours_per_week": 5,
        "team_prep_sessions": 2,
        "team_joint_work_hours_per_month": 1,
        "ward_acceptance_baseline": 0.5,
        "eligible_admissions_per_week": 1.9,
        "caseload_cap": 8,
    },
    {
        "host": "not_for_profit",
        "geography": "rural",
        "travel_minutes_one_way": 50,
        "n_peer_workers": 5,
        "peer_worker_hours_per_week": 22.5,
        "supervisor_hours_per_week": 2.5,
        "team_prep_sessions": 0,
        "team_joint_work_hours_per_month": 0,
        "ward_acceptance_baseline": 0.4,
        "eligible_admissions_per_week": 2.0,
        "caseload_cap": 8,
    },
)
"""Five site archetypes (after ``enrich_trial.toml``), mean 2.1 eligible admissions a week."""

CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from bench_scaling import measure_in_process
result = measure_in_process(int(sys.argv[2]), int(sys.argv[3]))
result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
print(json.dumps(result))
"""


def service_scenario_data(n_sites: int) -> dict[str, Any]:
    """Return plain scenario data: ``n_sites`` sites in service mode over 3 years of admissions.

    Parameters
    ----------
    n_sites
        Number of sites; they cycle through :data:`SITE_MIX`.

    Returns
    -------
    dict
        Data shaped like a scenario file, for ``scenario_from_dict``.
    """
    sites = []
    for index in range(n_sites):
        archetype = SITE_MIX[index % len(SITE_MIX)]
        prefix = f"{archetype['geography']}_{'nhs' if archetype['host'] == 'nhs' else 'nfp'}"
        sites.append({"name": f"{prefix}_{index:04d}", **archetype})
    return {
        "name": f"service_{n_sites}_sites",
        "description": f"Service-mode scaling benchmark: {n_sites} sites, 3 years of admissions",
        "mode": "service",
        "horizon": {"recruitment_weeks": RECRUITMENT_WEEKS, "follow_up_weeks": FOLLOW_UP_WEEKS},
        "sites": sites,
    }


def measure_in_process(n_sites: int, repeats: int) -> dict[str, Any]:
    """Time ``peersim.run`` on the ``n_sites`` scenario in this process.

    Parameters
    ----------
    n_sites
        Number of sites.
    repeats
        Timed runs after one untimed warm-up run.

    Returns
    -------
    dict
        ``peersim`` (the package imported), ``sites``, ``participants``,
        ``times`` (seconds, one per repeat) and ``median``.
    """
    import statistics
    import time

    from peersim import run
    from peersim.core.scenario_files import scenario_from_dict

    scenario = scenario_from_dict(service_scenario_data(n_sites), source=f"<bench {n_sites} sites>")
    participants = len(run(scenario, 0).patients)  # warm-up: imports, caches
    times = []
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        result = run(scenario, seed)
        times.append(time.perf_counter() - start)
        participants = len(result.patients)
    import peersim

    return {
        "peersim": os.path.dirname(peersim.__file__),
        "sites": n_sites,
        "participants": participants,
        "times": times,
        "median": statistics.median(times),
    }


def measure(n_sites: int, repeats: int) -> dict[str, Any]:
    """Run :func:`measure_in_process` in a fresh child process and return its numbers plus peak RSS."""
    here = os.path.dirname(os.path.abspath(__file__))
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, here, str(n_sites), str(repeats)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"child for {n_sites} sites failed:\n{completed.stderr}")
    numbers: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return numbers


def growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, float]:
    """Time ratio, size ratio (participants) and growth exponent between two sizes."""
    time_ratio = large["median"] / small["median"]
    size_ratio = large["participants"] / small["participants"]
    return {
        "time_ratio": time_ratio,
        "size_ratio": size_ratio,
        "exponent": math.log(time_ratio) / math.log(size_ratio),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per size (default 3)")
    parser.add_argument("--sizes", default="70,210", help="comma-separated numbers of sites (default 70,210)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON only")
    args = parser.parse_args()
    sizes = sorted({int(part) for part in args.sizes.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        parser.error("--sizes needs one or more positive integers")

    load_start = os.getloadavg()[0]
    results = [measure(n, args.repeats) for n in sizes]
    ratio = growth(results[0], results[-1]) if len(results) > 1 else None
    report = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        "repeats": args.repeats,
        "sizes": results,
        "growth": ratio,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return

    print(f"python {report['python']}, {report['cpus']} CPU(s), load average {load_start:.2f}")
    print(f"peersim from {results[0]['peersim']}")
    print(f"service mode, {RECRUITMENT_WEEKS} weeks of admissions + {FOLLOW_UP_WEEKS} weeks of follow-up")
    for r in results:
        per_1000 = r["median"] / r["participants"] * 1000
        print(
            f"{r['sites']:5d} sites: median {r['median']:7.2f} s (min {min(r['times']):.2f}), "
            f"{r['participants']:7d} participants, {per_1000:.3f} s per 1000, "
            f"peak RSS {r['peak_mb']:7.1f} MB"
        )
    if ratio is not None:
        small, large = results[0]["sites"], results[-1]["sites"]
        print(
            f"{large} / {small} sites: time ratio {ratio['time_ratio']:.2f} "
            f"vs size ratio {ratio['size_ratio']:.2f} (participants)"
        )
        print(f"growth exponent log(t ratio) / log(n ratio): {ratio['exponent']:.2f}")
    print(f"load average at the end {report['load_average_end']:.2f}")


if __name__ == "__main__":
    main()
