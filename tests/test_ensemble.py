"""Ensembles on the real executors: same numbers for any job count, failures recorded.

The task functions here are module-level so that the real process pool can
pickle them to its workers (pytest puts ``tests/`` on ``sys.path``, and the
forkserver passes ``sys.path`` on to the workers).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peersim import run
from peersim.cli.common import describe_failures
from peersim.core.overrides import ScenarioSource
from peersim.core.results import RunResult
from peersim.core.scenario import Scenario
from peersim.core.streams import replicate_seed
from peersim.ensemble.batches import EnsembleJob, MemorySink, batch_size, run_ensembles
from peersim.ensemble.runstore import RunStore
from peersim.executor import LocalExecutor

FAILING_REPLICATE = 3
SEED = 11
TABLES = ("metrics", "timeseries", "patients")


def fail_on_replicate_3(scenario: Scenario, seed: np.random.SeedSequence) -> RunResult:
    """The real run, except that replicate 3 raises (as a bug in one run would)."""
    if seed.spawn_key[-1] == FAILING_REPLICATE:
        raise RuntimeError("deliberate failure in replicate 3")
    return run(scenario, seed)


def kill_worker_on_replicate_0(scenario: Scenario, seed: np.random.SeedSequence) -> RunResult:
    """The real run, except that replicate 0 kills its worker process (as a crash would)."""
    if seed.spawn_key[-1] == 0:
        os._exit(1)
    return run(scenario, seed)


def sorted_table(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("replicate", "site", "arm", "metric", "week") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def ensemble(scenario: Scenario, executor: LocalExecutor, replicates: int, batch: int | None) -> MemorySink:
    sink = MemorySink(tables=TABLES)
    (report,) = run_ensembles([EnsembleJob(scenario, sink)], SEED, replicates, executor, batch=batch)
    assert report.finished == replicates
    assert not report.failures
    return sink


def test_numbers_do_not_depend_on_jobs_or_batching(tiny_scenario: Scenario) -> None:
    replicates = 9
    with LocalExecutor(1) as one:
        sequential = ensemble(tiny_scenario, one, replicates, batch=None)
    with LocalExecutor(2) as two:
        pooled_single = ensemble(tiny_scenario, two, replicates, batch=1)
        pooled_batched = ensemble(tiny_scenario, two, replicates, batch=4)
    for table in TABLES:
        expected = sorted_table(sequential.read(table))
        assert sorted(expected["replicate"].unique()) == list(range(replicates))
        for other in (pooled_single, pooled_batched):
            pd.testing.assert_frame_equal(sorted_table(other.read(table)), expected, check_exact=True)
    # And every replicate is exactly run(scenario, replicate_seed(seed, i)).
    for index in (0, replicates - 1):
        direct = run(tiny_scenario, replicate_seed(SEED, index)).tables()["metrics"]
        held = sequential.read("metrics")
        pd.testing.assert_frame_equal(
            held[held["replicate"] == index].reset_index(drop=True), direct, check_exact=True
        )


def test_batch_size_keeps_every_worker_busy() -> None:
    assert batch_size(200, 2) == 5  # capped at MAX_BATCH
    assert batch_size(16, 2) == 2  # about 4 batches per worker
    assert batch_size(1, 8) == 1


def _source(scenario: Scenario) -> ScenarioSource:
    return ScenarioSource(scenario, "# test scenario\n", "<tiny>")


def test_a_failing_replicate_is_recorded_and_the_others_carry_on(
    tiny_scenario: Scenario, tmp_path: Path
) -> None:
    replicates = 8
    store = RunStore.open_for_writing(tmp_path / "store", _source(tiny_scenario), SEED)
    with LocalExecutor(2) as pool:
        (report,) = run_ensembles(
            [EnsembleJob(tiny_scenario, store)], SEED, replicates, pool, batch=2, runner=fail_on_replicate_3
        )
    assert report.finished == replicates - 1
    assert [f.replicate for f in report.failures] == [FAILING_REPLICATE]
    failure = report.failures[0]
    assert failure.seed == SEED
    assert "RuntimeError: deliberate failure in replicate 3" in failure.error
    assert "fail_on_replicate_3" in failure.traceback
    # Replicate 2 shared a batch with 3 and was kept.
    assert store.completed() == set(range(replicates)) - {FAILING_REPLICATE}
    record = json.loads((tmp_path / "store" / "failures" / "replicate-000003.json").read_text())
    assert record["replicate"] == FAILING_REPLICATE
    assert record["seed"] == SEED
    assert "deliberate failure" in record["error"]
    assert store.failures() == [record]
    message = describe_failures(report.failures, replicates, "STORE/failures")
    assert "1 of 8 replicate(s) failed" in message
    assert "replicate 3 (seed 11)" in message

    # Running again (with the bug fixed) runs only the failed replicate and clears its record.
    with LocalExecutor(1) as one:
        (again,) = run_ensembles([EnsembleJob(tiny_scenario, store)], SEED, replicates, one)
    assert (again.skipped, again.finished, again.failures) == (replicates - 1, 1, [])
    assert store.failures() == []
    undisturbed = MemorySink()
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(tiny_scenario, undisturbed)], SEED, replicates, one)
    pd.testing.assert_frame_equal(
        sorted_table(store.read("metrics")), sorted_table(undisturbed.read("metrics")), check_exact=True
    )


def test_a_crashed_worker_fails_its_tasks_without_stopping_the_ensemble(
    tiny_scenario: Scenario, tmp_path: Path
) -> None:
    replicates = 6
    store = RunStore.open_for_writing(tmp_path / "store", _source(tiny_scenario), SEED)
    with LocalExecutor(2) as pool:
        (report,) = run_ensembles(
            [EnsembleJob(tiny_scenario, store)],
            SEED,
            replicates,
            pool,
            batch=1,
            runner=kill_worker_on_replicate_0,
        )
    # A dead worker breaks a process pool: replicate 0 and whatever was still queued
    # are recorded as failures (BrokenProcessPool), none is silently lost.
    failed = {f.replicate for f in report.failures}
    assert 0 in failed
    assert failed | store.completed() == set(range(replicates))
    assert failed.isdisjoint(store.completed())
    assert all("BrokenProcessPool" in f.error or "terminated" in f.error for f in report.failures)
    with LocalExecutor(1) as one:
        (again,) = run_ensembles([EnsembleJob(tiny_scenario, store)], SEED, replicates, one)
    assert again.finished == len(failed)
    assert not again.failures
    assert store.completed() == set(range(replicates))


def test_replicates_must_be_positive(tiny_scenario: Scenario) -> None:
    with LocalExecutor(1) as one, pytest.raises(ValueError, match="at least 1"):
        run_ensembles([EnsembleJob(tiny_scenario, MemorySink())], SEED, 0, one)
