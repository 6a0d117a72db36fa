"""The parent process holds nothing per replicate asked for: memory is flat in N.

Planning is computed batch by batch (:class:`~peersim.ensemble.batches.BatchPlan`)
and the executor keeps a few batches in flight, so asking for the declared
maximum of replicates costs what asking for 100 does. Peak resident memory of
the console command is measured by ``benchmarks/bench_memory.py``; these tests
trace the Python allocations of this process with :mod:`tracemalloc`.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from peersim.core.overrides import ScenarioSource
from peersim.core.scenario import Scenario
from peersim.ensemble.batches import EnsembleJob, MemorySink, plan_batches, run_ensembles
from peersim.ensemble.runstore import RunStore
from peersim.ensemble.workflow import MAX_REPLICATES
from peersim.executor import LocalExecutor

SEED = 2
BILLION = 10**9


def traced_peak(work: Callable[[], object]) -> int:
    """Peak bytes of Python allocations while ``work`` runs (above what was allocated before)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_planning_a_billion_replicates_holds_nothing_per_replicate(tiny_scenario: Scenario) -> None:
    store_like = MemorySink()
    store_like.done = {0, 1, 2, 7, 11}  # a resumed sink: the plan skips what it holds
    jobs = [EnsembleJob(tiny_scenario, store_like), EnsembleJob(tiny_scenario, MemorySink())]
    planned: dict[str, object] = {}

    def plan() -> None:
        tasks, reports = plan_batches(jobs, SEED, BILLION, workers=2)
        planned.update(
            tasks=len(tasks),
            skipped=[r.skipped for r in reports],
            first=[t.replicates for t in tasks[:4]],
            last=tasks[-1].replicates,
            walked=sum(len(t.replicates) for t, _ in zip(tasks, range(2000), strict=False)),
        )

    peak = traced_peak(plan)
    # Seen: about 0.17 MB; a list of the missing replicates alone would be 36 GB (the old
    # plan's list and batches took 5.6 MB for 100,000 replicates).
    assert peak < 1_000_000, f"planning 10^9 replicates allocated {peak / 1e6:.1f} MB"
    assert planned["tasks"] == (BILLION - 5 + 4) // 5 + BILLION // 5
    assert planned["skipped"] == [5, 0]
    assert planned["first"] == [(3, 4, 5, 6, 8), (0, 1, 2, 3, 4), (9, 10, 12, 13, 14), (5, 6, 7, 8, 9)]
    assert planned["last"] == (BILLION - 5, BILLION - 4, BILLION - 3, BILLION - 2, BILLION - 1)
    assert planned["walked"] == 10_000


class Stop(KeyboardInterrupt):
    """Ctrl-C, as the progress display would see it, after some replicates."""


def interrupted_after(replicates: int, asked: int, store: RunStore, scenario: Scenario) -> Callable[[], None]:
    def work() -> None:
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            if done >= replicates:
                raise Stop

        with LocalExecutor(2) as pool, pytest.raises(Stop):
            run_ensembles([EnsembleJob(scenario, store)], SEED, asked, pool, on_progress=progress)

    return work


def test_an_ensemble_of_the_maximum_holds_no_more_than_one_of_100(tmp_path: Path, tiny_toml: str) -> None:
    from peersim.core.overrides import load_source

    (tmp_path / "tiny.toml").write_text(tiny_toml, encoding="utf-8")
    source: ScenarioSource = load_source(tmp_path / "tiny.toml")
    scenario = source.scenario
    stores = {
        n: RunStore.open_for_writing(tmp_path / f"store-{n}", source, SEED) for n in ("warm", 100, "max")
    }
    # The first ensemble pays for imports and the pool's start; it is not measured.
    interrupted_after(10, 100, stores["warm"], scenario)()
    small = traced_peak(interrupted_after(40, 100, stores[100], scenario))
    large = traced_peak(interrupted_after(40, MAX_REPLICATES, stores["max"], scenario))
    kept = {n: len(s.completed()) for n, s in stores.items()}
    assert kept[100] >= 40, kept
    assert kept["max"] >= 40, kept
    # Seen: about 0.11 MB for each, within 0.01 MB of each other; the old plan's list of the
    # missing replicates and their batches added 5.6 MB for 100,000.
    assert large < small + 500_000, (
        f"{MAX_REPLICATES} asked: {large / 1e6:.2f} MB, 100 asked: {small / 1e6:.2f} MB"
    )


def test_summaries_of_a_store_hold_the_values_and_bands_hold_nothing_per_replicate(
    tmp_path: Path, tiny_toml: str
) -> None:
    from peersim.core.overrides import load_source
    from peersim.ensemble.figures import TRAJECTORY_METRICS
    from peersim.ensemble.summary import BAND_BINS, outcome_summary, store_summary, timeseries_bands

    (tmp_path / "tiny.toml").write_text(tiny_toml, encoding="utf-8")
    source = load_source(tmp_path / "tiny.toml")
    stores = {}
    with LocalExecutor(1) as one:
        for n in (10, 40):
            stores[n] = RunStore.open_for_writing(tmp_path / f"store-{n}", source, SEED)
            run_ensembles([EnsembleJob(source.scenario, stores[n])], SEED, n, one, batch=2)
    peaks: dict[str, dict[int, int]] = {"summary": {}, "outcomes": {}, "bands": {}}
    weeks = {}
    for n, store in stores.items():
        # Once unmeasured: the store's list of replicates is read, and first calls import things.
        store_summary(store), outcome_summary(store), timeseries_bands(store, ["ward_acceptance"])
        peaks["summary"][n] = traced_peak(lambda s=store: store_summary(s))
        peaks["outcomes"][n] = traced_peak(lambda s=store: outcome_summary(s))
        peaks["bands"][n] = traced_peak(lambda s=store: timeseries_bands(s, list(TRAJECTORY_METRICS)))
        weeks[n] = len(timeseries_bands(store, ["ward_acceptance"]))  # site-weeks any replicate reaches
    groups = len(store_summary(stores[40]))  # one float64 per group and replicate is what percentiles need
    growth = {name: (peak[40] - peak[10]) / 30 for name, peak in peaks.items()}
    # Seen: 0.97 kB more per replicate for the summary (57 groups: 456 bytes of values, and the
    # batch in hand), 0.84 kB for the outcomes; the bands grew by 77 kB from 10 to 40 replicates,
    # for the 4 more site-weeks the longest replicate reached (16 kB of histograms each).
    assert growth["summary"] < 4 * 8 * groups, (growth, peaks)
    assert growth["outcomes"] < 4 * 8 * groups, (growth, peaks)
    histogram = 4 * BAND_BINS * len(TRAJECTORY_METRICS)  # bytes per site-week, every metric
    assert peaks["bands"][40] - peaks["bands"][10] < 2 * histogram * max(1, weeks[40] - weeks[10]), (
        peaks,
        weeks,
    )
