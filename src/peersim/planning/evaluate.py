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
metrics, its outcomes by diagnostic group and a few numbers per service year
(small arrays per batch, :func:`outcome_row` and :func:`year_outcomes`), not
the full tables.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peersim.core.results import ARMS, GROUPS, METRICS, OVERALL, WEEKS_PER_YEAR, RunResult
from peersim.core.scenario import Scenario
from peersim.executor import Executor, TaskFailure
from peersim.planning.inputs import service_years
from peersim.simulation import Runner
from peersim.uncertainty import Posterior

GROUP_OUTCOME_METRICS: tuple[str, ...] = (
    "participants",
    "engagement_rate",
    "readmission_rate_intervention",
    "readmission_rate_control",
    "readmissions_averted",
)
"""Metrics of a run's ``groups`` table a worker returns for each diagnostic group (site pooled)."""


def group_column(group: str, metric: str) -> str:
    """Name of one group's outcome among :data:`OUTCOMES`, e.g. ``psychosis:engagement_rate``."""
    return f"{group}:{metric}"


OUTCOMES: tuple[str, ...] = (
    *METRICS,
    "readmissions_averted_per_100",
    "community_contacts",
    *(group_column(group, metric) for group in GROUPS for metric in GROUP_OUTCOME_METRICS),
)
"""Per-replicate outcomes a worker returns: the headline metrics (site pooled),
readmissions averted per 100 people (usual care minus peer support, same
people), the number of community sessions delivered, and
:data:`GROUP_OUTCOME_METRICS` of each diagnostic group (:func:`group_column`)."""

YEAR_OUTCOMES: tuple[str, ...] = (
    "participants",
    "engagement_rate",
    "readmissions_averted",
    "community_contacts",
    "post_weeks_after_funding_end",
)
"""Per-replicate outcomes of each service year with admissions (:func:`year_outcomes`): from the
run's ``years`` table, the year's participants, engagement and readmissions averted (of the people
admitted that year); the community sessions delivered to them; and the post-weeks held during the
year's weeks of admissions from the site's funding end week on (0 when funded throughout)."""

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
    """What a task sends back, NaN where a replicate failed.

    Attributes
    ----------
    values
        One row of :data:`OUTCOMES` per replicate.
    years
        Per replicate, one row of :data:`YEAR_OUTCOMES` per service year with
        admissions, shape ``(replicates, years, len(YEAR_OUTCOMES))``.
    """

    plan: int
    replicates: tuple[int, ...]
    values: np.ndarray
    failures: tuple[tuple[int, str], ...] = ()
    years: np.ndarray | None = None


def outcome_row(result: RunResult) -> np.ndarray:
    """Return the :data:`OUTCOMES` of one run, pooled over its sites."""
    lookup = _pooled(result.metrics, "metric")
    row = np.array([lookup.get(name, np.nan) for name in METRICS], dtype=float)
    averted = 100.0 * (lookup["readmission_rate_control"] - lookup["readmission_rate_intervention"])
    community = lookup["participants"] * (lookup["mean_contacts"] - lookup["contacts_before_discharge"])
    by_group = _pooled(result.groups, "group", "metric")
    per_group = [by_group.get((g, m), np.nan) for g in GROUPS for m in GROUP_OUTCOME_METRICS]
    return np.concatenate([row, [averted, community], per_group])


def _pooled(table: pd.DataFrame, *keys: str) -> dict[Any, float]:
    """Return the ``overall`` rows of a long table as ``{key: value}`` (a tuple of ``keys`` if several)."""
    pooled = table["site"].to_numpy() == OVERALL
    values = table["value"].to_numpy(dtype=float)[pooled]
    columns = [table[key].to_numpy()[pooled] for key in keys]
    names = columns[0] if len(keys) == 1 else zip(*columns, strict=True)
    return dict(zip(names, values, strict=True))


def admission_years(scenario: Scenario) -> int:
    """Service years with admissions of ``scenario`` (rows of :func:`year_outcomes`, at least 1)."""
    return service_years(scenario).count


def year_outcomes(result: RunResult, scenario: Scenario) -> np.ndarray:
    """Return :data:`YEAR_OUTCOMES` of each service year with admissions of a one-site run.

    Parameters
    ----------
    result
        A run of ``scenario``.
    scenario
        The one-site scenario it ran (its horizon and funding end week).

    Returns
    -------
    numpy.ndarray
        Shape ``(years, len(YEAR_OUTCOMES))``; row ``y - 1`` is service year ``y``
        (1 = delivery weeks 1-52). Community sessions belong to the year the
        participant was admitted, as the ``years`` table's participants do.
    """
    horizon = service_years(scenario)
    count = horizon.count
    out = np.zeros((count, len(YEAR_OUTCOMES)))
    by_year = _pooled(result.years, "year", "metric")
    for column, metric in enumerate(YEAR_OUTCOMES[:3]):
        out[:, column] = [by_year.get((year, metric), np.nan) for year in range(1, count + 1)]
    patients = result.patients
    offered = patients["arm"].to_numpy() == ARMS[0]
    cohort = (patients["admit_week"].to_numpy(dtype=np.int64)[offered] - 1) // WEEKS_PER_YEAR
    contacts = patients["contacts"].to_numpy(dtype=float) - patients["contacts_before_discharge"].to_numpy()
    out[:, 3] = np.bincount(cohort, weights=contacts[offered], minlength=count)[:count]
    if horizon.funding_end_week > 0:
        series = result.timeseries
        vacancies = series[series["metric"].to_numpy() == "vacancies"]
        vacant = dict(zip(vacancies["week"].to_numpy(dtype=np.int64), vacancies["value"], strict=True))
        posts = scenario.sites[0].n_peer_workers
        for year in range(1, count + 1):
            out[year - 1, 4] = sum(posts - vacant.get(week, posts) for week in horizon.unfunded_weeks(year))
    return out


def failed_output(plan: int, replicates: tuple[int, ...], scenario: Scenario, error: str) -> PlanTaskOutput:
    """Return what a task lost as a whole (its worker killed) stands for: NaN outcomes, all failed."""
    n = len(replicates)
    return PlanTaskOutput(
        plan,
        replicates,
        np.full((n, len(OUTCOMES)), np.nan),
        tuple((i, error) for i in replicates),
        np.full((n, admission_years(scenario), len(YEAR_OUTCOMES)), np.nan),
    )


def run_plan_task(task: PlanTask) -> PlanTaskOutput:
    """Run a task's replicates (module-level, so executors can send it to workers)."""
    values = np.full((len(task.replicates), len(OUTCOMES)), np.nan)
    years = np.full((len(task.replicates), admission_years(task.scenario), len(YEAR_OUTCOMES)), np.nan)
    failures: list[tuple[int, str]] = []
    for row, index in enumerate(task.replicates):
        try:
            result = Runner(task.posterior).replicate(task.scenario, task.seed, index)
            values[row] = outcome_row(result)
            years[row] = year_outcomes(result, task.scenario)
        except Exception as error:  # one failing replicate must not stop the others
            failures.append((index, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"))
    return PlanTaskOutput(task.plan, task.replicates, values, tuple(failures), years)


@dataclass
class OutcomeStore:
    """Outcomes of every plan and replicate run so far, and the replicates that failed."""

    rows: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)
    failures: dict[tuple[int, int], str] = field(default_factory=dict)
    years: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)
    """Per plan and replicate, the ``(years, len(YEAR_OUTCOMES))`` rows of :func:`year_outcomes`."""

    def held(self, plan: int) -> set[int]:
        """Replicates of ``plan`` already run (finished or failed)."""
        return set(self.rows.get(plan, {}))

    def add(self, output: PlanTaskOutput) -> None:
        """Keep a task's rows and failures."""
        rows = self.rows.setdefault(output.plan, {})
        for index, values in zip(output.replicates, output.values, strict=True):
            rows[index] = values
        if output.years is not None:
            years = self.years.setdefault(output.plan, {})
            for index, values in zip(output.replicates, output.years, strict=True):
                years[index] = values
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

    def year_array(self, plan: int, n: int) -> np.ndarray:
        """Per-year outcomes of replicates ``0 .. n - 1``, shape ``(n, years, len(YEAR_OUTCOMES))``.

        Raises
        ------
        KeyError
            If one of those replicates has no per-year outcomes.
        """
        years = self.years.get(plan, {})
        return np.stack([years[i] for i in range(n)])

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
            outcome = failed_output(task.plan, task.replicates, task.scenario, outcome.error)
        store.add(outcome)
        if keep is not None:
            keep(outcome)
        ran += len(task.replicates)
        if on_progress is not None:
            on_progress(len(task.replicates))
    return ran
