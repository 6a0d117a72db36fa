"""The Dask back end on a real LocalCluster on 127.0.0.1: same numbers, survives a killed worker."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from peersim import default_scenario
from peersim.core.overrides import ScenarioSource
from peersim.core.scenario import Scenario
from peersim.ensemble.batches import EnsembleJob, MemorySink, run_ensembles
from peersim.ensemble.runstore import RunStore
from peersim.executor import DaskExecutor, LocalExecutor

SEED = 21
TABLES = ("metrics", "timeseries")

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-threaded worker processes (with nannies, which restart a dead worker)."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,
    ) as local:
        yield local


def sorted_table(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("replicate", "site", "metric", "week") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def sequential(scenario: Scenario, replicates: int) -> MemorySink:
    sink = MemorySink(tables=TABLES)
    with LocalExecutor(1) as one:
        run_ensembles([EnsembleJob(scenario, sink)], SEED, replicates, one)
    return sink


def assert_same_tables(got: MemorySink | RunStore, expected: MemorySink) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(
            sorted_table(got.read(table)), sorted_table(expected.read(table)), check_exact=True
        )


def test_dask_gives_the_numbers_of_a_sequential_run(tiny_scenario: Scenario, cluster: Any) -> None:
    replicates = 10
    expected = sequential(tiny_scenario, replicates)
    on_cluster = MemorySink(tables=TABLES)
    with DaskExecutor(scheduler=cluster.scheduler_address) as dask:
        assert dask.workers == 2
        (report,) = run_ensembles([EnsembleJob(tiny_scenario, on_cluster)], SEED, replicates, dask, batch=3)
    assert report.finished == replicates
    assert_same_tables(on_cluster, expected)


def test_dask_executor_starts_and_stops_its_own_local_cluster(tiny_scenario: Scenario) -> None:
    # What `peersim run --executor dask` does without --scheduler.
    replicates = 4
    own = MemorySink(tables=TABLES)
    with DaskExecutor(workers=2) as dask:
        assert dask.workers == 2
        scheduler = dask.client.scheduler.address
        assert scheduler.startswith("tcp://127.0.0.1:")
        run_ensembles([EnsembleJob(tiny_scenario, own)], SEED, replicates, dask, batch=1)
    assert dask.client.status == "closed"
    assert_same_tables(own, sequential(tiny_scenario, replicates))


def test_a_worker_killed_mid_ensemble_changes_nothing(cluster: Any, tmp_path: Path) -> None:
    scenario = default_scenario()  # about 70 ms a run, so tasks are in flight when the worker dies
    replicates = 24
    store = RunStore.open_for_writing(tmp_path / "store", ScenarioSource(scenario, "", "<default>"), SEED)
    killed: dict[str, Any] = {}
    with DaskExecutor(scheduler=cluster.scheduler_address) as dask:
        client = dask.client
        pids: dict[str, int] = client.run(os.getpid)

        def kill_a_busy_worker(_done: int) -> None:
            if killed:
                return
            busy = {address: keys for address, keys in client.processing().items() if keys}
            if not busy:
                return
            address = sorted(busy)[0]
            killed.update(address=address, pid=pids[address], tasks=len(busy[address]))
            os.kill(pids[address], signal.SIGKILL)

        (report,) = run_ensembles(
            [EnsembleJob(scenario, store)], SEED, replicates, dask, on_progress=kill_a_busy_worker, batch=1
        )
        after: dict[str, int] = client.run(os.getpid)
    assert killed, "no worker was busy to kill"
    assert killed["tasks"] >= 1  # the victim held at least one task when it died
    assert killed["pid"] not in after.values()  # it really died (its nanny started a new one)
    assert report.finished == replicates
    assert not report.failures
    assert store.completed() == set(range(replicates))
    assert store.read("metrics").groupby("replicate").size().nunique() == 1
    assert_same_tables(store, sequential(scenario, replicates))


def test_workers_running_other_model_code_are_refused_with_their_addresses() -> None:
    from peersim.errors import PeersimInputError
    from peersim.executor import check_worker_code
    from peersim.io.provenance import code_identity

    version, source = code_identity()
    check_worker_code({"tcp://10.0.0.1:1": (version, source), "tcp://10.0.0.2:1": [version, source]}, "s")
    identities: dict[str, Any] = {
        "tcp://10.0.0.1:1": (version, source),
        "tcp://10.0.0.2:1": ("0.0.1", source),
        "tcp://10.0.0.3:1": ModuleNotFoundError("No module named 'peersim'"),
        "tcp://10.0.0.4:1": (version, "0123456789abcdef"),
    }
    with pytest.raises(PeersimInputError) as caught:
        check_worker_code(identities, "tcp://s:8786")
    message = str(caught.value)
    assert "3 of 4 worker(s)" in message
    assert "tcp://10.0.0.2:1 (peersim 0.0.1)" in message
    assert "tcp://10.0.0.3:1 (peersim not importable)" in message
    assert "tcp://10.0.0.4:1 (model source 0123456789abcdef)" in message
    assert "tcp://10.0.0.1:1" not in message
