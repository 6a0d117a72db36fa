"""Benchmark: seconds per trial-scale run against a bare Mesa loop, in one process.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_run.py [--repeats 30]

It times ``peersim.run`` on the embedded default scenario (7 sites, about 590
participants, 12-month follow-up; one replicate, one core) and, in the same
process, a bare Mesa loop of 700 trivial agents stepped with ``shuffle_do`` for
365 steps. It prints both medians and their ratio. Target: a median of at most
50 ms per trial-scale run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import mesa

from peersim import default_scenario, run
from peersim.model import PeerSupportModel

TARGET_SECONDS = 0.050


class _Trivial(mesa.Agent):
    def step(self) -> None:
        pass


class _BareModel(mesa.Model):
    def __init__(self) -> None:
        super().__init__(rng=0)
        for _ in range(700):
            _Trivial(self)

    def step(self) -> None:
        self.agents.shuffle_do("step")


def bare_mesa_loop() -> None:
    """700 trivial agents x 365 ``shuffle_do`` steps."""
    model = _BareModel()
    for _ in range(365):
        model.step()


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each (default 30)")
    args = parser.parse_args()
    scenario = default_scenario()
    seeds = iter(range(10**6))
    run(scenario, 0)  # warm-up: imports, caches
    bare_mesa_loop()

    # Interleaved, so that all three see the same machine: on a shared VM the speed of
    # identical work drifts by tens of per cent over a minute, and the ratio stays meaningful.
    run_times: list[float] = []
    model_times: list[float] = []
    bare_times: list[float] = []
    for index in range(args.repeats):
        run_times += timed(lambda: run(scenario, next(seeds)), 1)
        model_times += timed(lambda: PeerSupportModel(scenario, rng=next(seeds)).run_model(), 1)
        if index % 3 == 0:
            bare_times += timed(bare_mesa_loop, 1)

    run_median = statistics.median(run_times)
    model_median = statistics.median(model_times)
    bare_median = statistics.median(bare_times)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {platform.python_version()}, mesa {mesa.__version__}, load average {load:.2f}")
    print(
        f"peersim.run, default scenario   median {run_median * 1e3:7.1f} ms  (min {min(run_times) * 1e3:.1f})"
    )
    print(f"  of which model stepping       median {model_median * 1e3:7.1f} ms")
    print(f"bare Mesa loop (700 x 365)      median {bare_median * 1e3:7.1f} ms")
    print(f"ratio run / bare loop           {run_median / bare_median:.2f}")
    verdict = "meets" if run_median <= TARGET_SECONDS else "MISSES"
    print(f"target <= {TARGET_SECONDS * 1e3:.0f} ms per run: {verdict}")


if __name__ == "__main__":
    main()
