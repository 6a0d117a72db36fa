"""Batches of replicates: one or more scenarios, run on one executor into result sinks.

Replicates are grouped into small batches, one executor task each, so that the
per-task cost of a pool or a Dask cluster is paid once per batch and each
worker returns its tables already encoded as Parquet. Replicate ``i`` of every
scenario uses ``replicate_seed(seed, i)`` whatever the batch, worker or
back end, so the numbers never depend on how the work was split, and the
replicates of two scenarios with their sites in the same order share their
random numbers (common random numbers, for comparisons).

A replicate that raises is recorded as a :class:`ReplicateFailure`, with its
seed and error text; the others carry on.

The plan of batches is computed, not stored: :class:`BatchPlan` works out
batch ``k`` from the replicates the sinks already hold, so planning a billion
replicates holds nothing of that size, and the executor keeps only a few
batches in flight.
"""

from __future__ import annotations

import io
import math
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, overload

import numpy as np
import pandas as pd

from peersim.core.results import TABLES
from peersim.core.scenario import Scenario
from peersim.core.streams import replicate_seed
from peersim.executor import Executor, TaskFailure
from peersim.simulation import Runner

MAX_BATCH = 5
"""Largest number of replicates in one task (about 0.5 s of work for the default scenario), so the
last tasks of a pool finish close together."""
BATCHES_PER_WORKER = 4
"""Batches per worker aimed for, so the last batches finish close together."""


@dataclass(frozen=True)
class ReplicateFailure:
    """A replicate that raised: where it was, its seed and the error."""

    replicate: int
    seed: int
    error: str
    traceback: str = ""

    def record(self) -> dict[str, Any]:
        """Return the failure as JSON-ready data."""
        return {
            "replicate": self.replicate,
            "seed": self.seed,
            "spawn_key": [self.replicate],
            "error": self.error,
            "traceback": self.traceback,
        }


@dataclass(frozen=True)
class BatchTask:
    """Replicates of one scenario to run in one task.

    Attributes
    ----------
    job
        Which of the caller's scenarios this batch belongs to.
    scenario
        The scenario to run.
    seed
        Base seed; replicate ``i`` runs with ``replicate_seed(seed, i)``.
    replicates
        Replicate indices, in order.
    tables
        Which result tables to return.
    runner
        What runs one replicate (and draws its mechanism strengths, if it has a posterior).
    """

    job: int
    scenario: Scenario
    seed: int
    replicates: tuple[int, ...]
    tables: tuple[str, ...] = TABLES
    runner: Runner = field(default_factory=Runner)


@dataclass(frozen=True)
class BatchOutput:
    """What a batch sends back: Parquet bytes per table, and its failures."""

    job: int
    replicates: tuple[int, ...]
    """Replicates that finished (the rows of ``tables``)."""
    tables: dict[str, bytes]
    """Parquet file content per table name; empty when no replicate finished."""
    failures: tuple[ReplicateFailure, ...] = ()

    @property
    def first(self) -> int:
        """Lowest replicate index of the batch, finished or not (names its files)."""
        return min((*self.replicates, *(f.replicate for f in self.failures)))


def encode_parquet(frame: pd.DataFrame) -> bytes:
    """Return ``frame`` as the bytes of a Parquet file (no index)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def decode_parquet(data: bytes) -> pd.DataFrame:
    """Read the bytes of a Parquet file back into a DataFrame."""
    return pd.read_parquet(io.BytesIO(data))


def run_batch(task: BatchTask) -> BatchOutput:
    """Run a batch of replicates and encode their tables (module-level: runs on workers)."""
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in task.tables}
    done: list[int] = []
    failures: list[ReplicateFailure] = []
    for index in task.replicates:
        try:
            tables = task.runner(task.scenario, replicate_seed(task.seed, index)).tables()
        except Exception as error:  # one failing replicate must not stop the others
            failures.append(
                ReplicateFailure(index, task.seed, f"{type(error).__name__}: {error}", traceback.format_exc())
            )
            continue
        for name in task.tables:
            frames[name].append(tables[name])
        done.append(index)
    encoded = (
        {name: encode_parquet(pd.concat(parts, ignore_index=True)) for name, parts in frames.items()}
        if done
        else {}
    )
    return BatchOutput(task.job, tuple(done), encoded, tuple(failures))


class ResultSink(Protocol):
    """Where finished batches go: a :class:`~peersim.ensemble.runstore.RunStore` or a :class:`MemorySink`."""

    @property
    def tables(self) -> tuple[str, ...]:
        """Tables the sink keeps (workers encode only these)."""
        ...

    def completed(self) -> set[int]:
        """Replicates already held, which are not run again."""
        ...

    def add(self, output: BatchOutput) -> None:
        """Keep a finished batch: its tables and its failures."""
        ...


@dataclass
class MemorySink:
    """Keeps small tables in memory (by default only ``metrics``, 152 rows a run for 7 sites)."""

    tables: tuple[str, ...] = ("metrics",)
    frames: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)

    def completed(self) -> set[int]:
        """Replicates held."""
        return set(self.done)

    def add(self, output: BatchOutput) -> None:
        """Decode and keep a batch's tables (failures are in the ensemble's report)."""
        for name, data in output.tables.items():
            self.frames.setdefault(name, []).append(decode_parquet(data))
        self.done.update(output.replicates)

    def parts(
        self, table: str, columns: Sequence[str] | None = None, replicates: int | None = None
    ) -> Iterator[Any]:
        """Yield one table's rows a batch at a time as pyarrow Tables, as a run store's ``parts`` does.

        Raises
        ------
        KeyError
            If no batch of ``table`` has been added.
        """
        import pyarrow as pa  # heavy; the frames were decoded from Parquet, so it is loaded already

        if not self.frames.get(table):
            raise KeyError(f"no {table!r} rows held")
        for frame in self.frames[table]:
            if replicates is not None:
                frame = frame[frame["replicate"] < replicates]
            yield pa.Table.from_pandas(frame[list(columns)] if columns else frame, preserve_index=False)

    def read(
        self, table: str, columns: Sequence[str] | None = None, replicates: int | None = None
    ) -> pd.DataFrame:
        """Return one table for the replicates held (those below ``replicates`` if given), in replicate order.

        Raises
        ------
        KeyError
            If no batch of ``table`` has been added.
        """
        parts = self.frames.get(table, [])
        if not parts:
            raise KeyError(f"no {table!r} rows held")
        frame = pd.concat(parts, ignore_index=True)
        if replicates is not None:
            frame = frame[frame["replicate"] < replicates]
        # Replicate order, as a run store returns it, so sums do not depend on completion order.
        frame = frame.sort_values("replicate", kind="stable").reset_index(drop=True)
        return frame[list(columns)] if columns else frame


@dataclass(frozen=True)
class EnsembleJob:
    """One scenario to run into one sink."""

    scenario: Scenario
    sink: ResultSink


@dataclass
class EnsembleReport:
    """What an ensemble did for one job."""

    requested: int
    """Replicates asked for (indices ``0 .. requested - 1``)."""
    skipped: int = 0
    """Replicates already in the sink (resumed)."""
    finished: int = 0
    """Replicates run now that finished."""
    failures: list[ReplicateFailure] = field(default_factory=list)
    """Replicates run now that raised."""

    @property
    def available(self) -> int:
        """Replicates the sink now holds among those requested."""
        return self.skipped + self.finished


def batch_size(replicates: int, workers: int) -> int:
    """Replicates per task: about :data:`BATCHES_PER_WORKER` tasks a worker, at most :data:`MAX_BATCH`."""
    return max(1, min(MAX_BATCH, math.ceil(replicates / (max(1, workers) * BATCHES_PER_WORKER))))


class BatchPlan(Sequence[BatchTask]):
    """The batch tasks of an ensemble, worked out one at a time from what the sinks hold.

    Each job's missing replicates (those of ``0 .. replicates - 1`` its sink
    lacks, in order) are cut into chunks of ``size``, and the jobs' chunks are
    interleaved: round 0 of every job, then round 1, and so on. Task ``k`` is
    computed when asked for, from the held replicates alone (a sorted array as
    large as what the sinks hold), so the plan costs nothing per replicate asked.

    Parameters
    ----------
    jobs
        Scenarios and their sinks.
    seed
        Base seed of every task.
    held
        Per job, the sorted replicates below ``replicates`` its sink holds.
    replicates
        Replicates asked for per job.
    size
        Replicates per task, at least 1.
    runner
        What runs one replicate.
    """

    def __init__(
        self,
        jobs: Sequence[EnsembleJob],
        seed: int,
        held: Sequence[np.ndarray],
        replicates: int,
        size: int,
        runner: Runner,
    ) -> None:
        self.jobs = list(jobs)
        self.seed = seed
        self.size = max(1, size)
        self.runner = runner
        # For held replicates h_0 < h_1 < ..., h_j - j is the count of missing replicates below h_j,
        # so the k-th missing replicate is k plus the number of j with h_j - j <= k.
        self._keys = [np.asarray(h, dtype=np.int64) - np.arange(len(h), dtype=np.int64) for h in held]
        self.missing = [replicates - len(h) for h in held]
        """Replicates each job lacks."""
        self._chunks = [math.ceil(n / self.size) for n in self.missing]

    def __len__(self) -> int:
        return sum(self._chunks)

    def _before(self, round_: int) -> int:
        """Tasks in rounds ``0 .. round_ - 1``."""
        return sum(min(chunks, round_) for chunks in self._chunks)

    @overload
    def __getitem__(self, index: int) -> BatchTask: ...

    @overload
    def __getitem__(self, index: slice) -> list[BatchTask]: ...

    def __getitem__(self, index: int | slice) -> BatchTask | list[BatchTask]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(len(self)))]
        total = len(self)
        if index < 0:
            index += total
        if not 0 <= index < total:
            raise IndexError(f"batch {index} of {total}")
        # The round of task `index`: the last round starting at or before it (rounds are few).
        low, high = 0, max(self._chunks)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if self._before(middle) <= index else (low, middle)
        round_ = low
        active = [j for j, chunks in enumerate(self._chunks) if chunks > round_]
        job = active[index - self._before(round_)]
        first = round_ * self.size
        positions = np.arange(first, min(first + self.size, self.missing[job]), dtype=np.int64)
        chosen = positions + np.searchsorted(self._keys[job], positions, side="right")
        sink = self.jobs[job].sink
        return BatchTask(
            job,
            self.jobs[job].scenario,
            self.seed,
            tuple(int(r) for r in chosen),
            tuple(sink.tables),
            self.runner,
        )

    def __iter__(self) -> Iterator[BatchTask]:
        for index in range(len(self)):
            yield self[index]


def held_below(sink: ResultSink, replicates: int) -> np.ndarray:
    """Sorted replicates among ``0 .. replicates - 1`` that ``sink`` holds (as large as what it holds)."""
    have = np.fromiter(sink.completed(), dtype=np.int64)
    return np.sort(have[(have >= 0) & (have < replicates)])


def plan_batches(
    jobs: Sequence[EnsembleJob],
    seed: int,
    replicates: int,
    workers: int,
    size: int | None = None,
    runner: Runner | None = None,
) -> tuple[BatchPlan, list[EnsembleReport]]:
    """Split the replicates each job still needs into batch tasks, interleaving jobs.

    Interleaving keeps paired scenarios (a comparison's base and what-ifs) in
    step, so an interrupted comparison has pairs rather than one finished side.
    The tasks are a :class:`BatchPlan`, computed as they are asked for.
    """
    held = [held_below(job.sink, replicates) for job in jobs]
    reports = [EnsembleReport(replicates, skipped=len(h)) for h in held]
    total = sum(replicates - len(h) for h in held)
    per_task = size if size is not None else batch_size(total, workers)
    return BatchPlan(
        jobs, seed, held, replicates, per_task, runner if runner is not None else Runner()
    ), reports


def run_ensembles(
    jobs: Sequence[EnsembleJob],
    seed: int,
    replicates: int,
    executor: Executor,
    on_progress: Callable[[int], None] | None = None,
    batch: int | None = None,
    runner: Runner | None = None,
) -> list[EnsembleReport]:
    """Run replicates ``0 .. replicates - 1`` of every job, skipping those its sink holds.

    Parameters
    ----------
    jobs
        Scenarios and the sinks their results go to.
    seed
        Base seed (non-negative); shared by all jobs, so replicate ``i`` of each
        job uses the same random numbers.
    replicates
        Replicates per job, at least 1.
    executor
        Where tasks run; results are the same on any executor.
    on_progress
        Called with the number of replicates (finished or failed) after each batch.
    batch
        Replicates per task; by default chosen from the work and the workers.
    runner
        What runs one replicate (default: :class:`~peersim.simulation.Runner` without a
        posterior, the scenarios' point values).

    Returns
    -------
    list[EnsembleReport]
        One report per job, in the order of ``jobs``.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    tasks, reports = plan_batches(jobs, seed, replicates, executor.workers, batch, runner)
    for index, outcome in executor.imap_unordered(run_batch, tasks):
        task = tasks[index]
        if isinstance(outcome, TaskFailure):  # the whole task was lost (e.g. a worker died)
            outcome = BatchOutput(
                task.job,
                (),
                {},
                tuple(ReplicateFailure(i, seed, outcome.error, outcome.traceback) for i in task.replicates),
            )
        jobs[task.job].sink.add(outcome)
        report = reports[task.job]
        report.finished += len(outcome.replicates)
        report.failures.extend(outcome.failures)
        if on_progress is not None:
            on_progress(len(task.replicates))
    return reports
