"""Run plans on any executor and keep each replicate's outcomes in memory.

Replicate ``i`` of every plan runs with ``replicate_seed(seed, i)``
(common random numbers: a lever that does not touch a process leaves its
draws alone) and, with a posterior, with the mechanism strengths of one
particle drawn from a stream keyed on that seed
(:meth:`peersim.uncertainty.Posterior.apply_to`), so every plan of a
replicate shares the same draw. Results are keyed by plan and replicate, so
they never depend on the back end, the number of workers or the order in
which tasks finish; replicates already held are never run again, which lets
the search add replicates to promising plans only.

Workers run :func:`peersim.run` and send back only the site's headline
metrics (one small array per batch), not the full tables.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from peersim.core.results import METRICS, OVERALL, RunResult
from peersim.core.scenario import Scenario
from peersim.executor import Executor, TaskFailure
from peersim.simulation import Runner
from peersim.uncertainty import Posterior

OUTCOMES: tuple[str, ...] = (*METRICS, "readmissions_averted_per_100", "community_contacts")
"""Per-replicate outcomes a worker returns: the headline metrics (site pooled),
readmissions averted per 100 people (usual care minus peer support, same
people) and the number of community sessions delivered."""

BATCH = 8
"""Most replicates of one plan in one task (about half a second of work)."""


@dataclass(frozen=True)
class PlanTask:
    """Replicates of one plan to run in one task."""

    plan: int
    scenario: Scenario
    seed: int
    replicates: tuple[int, ...]
    posterior: Posterior | None = None


@dataclass(frozen=True)
class PlanTaskOutput:
    """What a task sends back: one row of :data:`OUTCOMES` per replicate (NaN if it failed)."""

    plan: int
    replicates: tuple[int, ...]
    values: np.ndarray
    failures: tuple[tuple[int, str], ...] = ()


def outcome_row(result: RunResult) -> np.ndarray:
    """Return the :data:`OUTCOMES` of one run, pooled over its sites."""
    table = result.metrics
    pooled = table[table["site"] == OVERALL]
    lookup = dict(zip(pooled["metric"], pooled["value"].astype(float), strict=True))
    row = np.array([lookup.get(name, np.nan) for name in METRICS], dtype=float)
    averted = 100.0 * (lookup["readmission_rate_control"] - lookup["readmission_rate_intervention"])
    community = lookup["participants"] * (lookup["mean_contacts"] - lookup["contacts_before_discharge"])
    return np.append(row, [averted, community])


def run_plan_task(task: PlanTask) -> PlanTaskOutput:
    """Run a task's replicates (module-level, so executors can send it to workers)."""
    values = np.full((len(task.replicates), len(OUTCOMES)), np.nan)
    failures: list[tuple[int, str]] = []
    for row, index in enumerate(task.replicates):
        try:
            result = Runner(task.posterior).replicate(task.scenario, task.seed, index)
            values[row] = outcome_row(result)
        except Exception as error:  # one failing replicate must not stop the others
            failures.append((index, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"))
    return PlanTaskOutput(task.plan, task.replicates, values, tuple(failures))


@dataclass
class OutcomeStore:
    """Outcomes of every plan and replicate run so far, and the replicates that failed."""

    rows: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)
    failures: dict[tuple[int, int], str] = field(default_factory=dict)

    def held(self, plan: int) -> set[int]:
        """Replicates of ``plan`` already run (finished or failed)."""
        return set(self.rows.get(plan, {}))

    def add(self, output: PlanTaskOutput) -> None:
        """Keep a task's rows and failures."""
        rows = self.rows.setdefault(output.plan, {})
        for index, values in zip(output.replicates, output.values, strict=True):
            rows[index] = values
        for index, error in output.failures:
            self.failures[(output.plan, index)] = error

    def array(self, plan: int, n: int) -> np.ndarray:
        """Outcomes of replicates ``0 .. n - 1`` of ``plan``, shape ``(n, len(OUTCOMES))``.

        Raises
        ------
        KeyError
            If one of those replicates has not been run.
        """
        rows = self.rows.get(plan, {})
        return np.stack([rows[i] for i in range(n)])

    def n_held(self, plan: int) -> int:
        """Replicates ``0 .. k - 1`` held without a gap (the usable count)."""
        rows = self.rows.get(plan, {})
        k = 0
        while k in rows:
            k += 1
        return k


@dataclass(frozen=True)
class Request:
    """Run ``plan`` (scenario ``scenario``) up to ``replicates`` replicates."""

    plan: int
    scenario: Scenario
    replicates: int


def tasks_for(
    requests: Sequence[Request],
    store: OutcomeStore,
    seed: int,
    posterior: Posterior | None,
    batch: int = BATCH,
) -> list[PlanTask]:
    """Split what the requests still need into tasks of at most ``batch`` replicates."""
    tasks = []
    for request in requests:
        have = store.held(request.plan)
        missing = [i for i in range(request.replicates) if i not in have]
        for start in range(0, len(missing), batch):
            chunk = tuple(missing[start : start + batch])
            tasks.append(PlanTask(request.plan, request.scenario, seed, chunk, posterior))
    return tasks


def evaluate(
    requests: Sequence[Request],
    store: OutcomeStore,
    seed: int,
    executor: Executor,
    posterior: Posterior | None = None,
    on_progress: Callable[[int], None] | None = None,
    keep: Callable[[PlanTaskOutput], None] | None = None,
) -> int:
    """Run every replicate the requests need that ``store`` lacks; return how many ran.

    A task lost as a whole (e.g. a worker killed) is recorded as failed
    replicates with NaN outcomes, like a replicate that raised. ``keep`` is
    called with each task's output as it finishes (a checkpoint), after ``store`` has it.
    """
    tasks = tasks_for(requests, store, seed, posterior)
    ran = 0
    for index, outcome in executor.imap_unordered(run_plan_task, tasks):
        task = tasks[index]
        if isinstance(outcome, TaskFailure):
            outcome = PlanTaskOutput(
                task.plan,
                task.replicates,
                np.full((len(task.replicates), len(OUTCOMES)), np.nan),
                tuple((i, outcome.error) for i in task.replicates),
            )
        store.add(outcome)
        if keep is not None:
            keep(outcome)
        ran += len(task.replicates)
        if on_progress is not None:
            on_progress(len(task.replicates))
    return ran
