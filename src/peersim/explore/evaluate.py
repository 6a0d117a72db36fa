"""Run the plan and the draft side by side on any executor, a few paired replicates per task.

Replicate ``i`` of the plan and of the draft runs with the same seed
(``replicate_seed(seed, i)``) and, with a posterior, the same particle of
mechanism strengths (common random numbers), in the same task, so every
finished task adds complete pairs and the page can show partial results as
soon as the first task is back. A worker sends back what
:mod:`peersim.planning.evaluate` sends for a plan (headline outcomes and
per-year outcomes) and the site's weekly values of :data:`WEEKLY_METRICS`.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peersim.core.scenario import Scenario
from peersim.planning.evaluate import (
    OUTCOMES,
    YEAR_OUTCOMES,
    PlanTaskOutput,
    admission_years,
    outcome_row,
    year_outcomes,
)
from peersim.simulation import Runner
from peersim.uncertainty import Posterior

ARMS: tuple[str, str] = ("plan", "draft")
"""The two sides of a comparison, in the order of a task's outputs (index = the plan index)."""
WEEKLY_METRICS: tuple[str, ...] = ("engagement_rate", "fidelity_index", "caseload", "ward_acceptance")
"""Weekly values of the site a worker returns (rows of the run's ``timeseries`` table)."""
BATCH = 2
"""Paired replicates per task: small, so the first result comes back within a second or two."""


@dataclass(frozen=True)
class ExploreTask:
    """Paired replicates of the plan and the draft to run in one task."""

    plan: Scenario
    draft: Scenario
    seed: int
    replicates: tuple[int, ...]
    posterior: Posterior | None = None


@dataclass(frozen=True)
class ExploreOutput:
    """What a task sends back, NaN where a run failed.

    Attributes
    ----------
    outputs
        One :class:`~peersim.planning.evaluate.PlanTaskOutput` per arm of
        :data:`ARMS` (its ``plan`` is the arm's index).
    weekly
        Per replicate, the weekly values of :data:`WEEKLY_METRICS` of both
        arms: columns ``site`` (the arm), ``metric``, ``week``, ``value``, one
        row per week a run lasted (none for a failed run).
    """

    replicates: tuple[int, ...]
    outputs: tuple[PlanTaskOutput, PlanTaskOutput]
    weekly: tuple[pd.DataFrame, ...]


def weekly_rows(series: pd.DataFrame, arm: str) -> pd.DataFrame:
    """Return a run's ``timeseries`` rows of :data:`WEEKLY_METRICS`, with ``arm`` as the site."""
    rows = series[series["metric"].isin(WEEKLY_METRICS)]
    return pd.DataFrame(
        {
            "site": arm,
            "metric": rows["metric"].to_numpy(dtype=object),
            "week": rows["week"].to_numpy(dtype=np.int64),
            "value": rows["value"].to_numpy(dtype=float),
        }
    )


def run_explore_task(task: ExploreTask) -> ExploreOutput:
    """Run a task's paired replicates (module-level, so executors can send it to workers)."""
    n = len(task.replicates)
    weekly: list[list[pd.DataFrame]] = [[] for _ in range(n)]
    outputs = []
    for arm, scenario in enumerate((task.plan, task.draft)):
        values = np.full((n, len(OUTCOMES)), np.nan)
        years = np.full((n, admission_years(scenario), len(YEAR_OUTCOMES)), np.nan)
        failures: list[tuple[int, str]] = []
        for row, index in enumerate(task.replicates):
            try:
                result = Runner(task.posterior).replicate(scenario, task.seed, index)
                values[row] = outcome_row(result)
                years[row] = year_outcomes(result, scenario)
                weekly[row].append(weekly_rows(result.timeseries, ARMS[arm]))
            except Exception as error:  # one failing run must not stop the others
                failures.append((index, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"))
        outputs.append(PlanTaskOutput(arm, task.replicates, values, tuple(failures), years))
    frames = tuple(pd.concat(parts, ignore_index=True) if parts else _no_rows() for parts in weekly)
    return ExploreOutput(task.replicates, (outputs[0], outputs[1]), frames)


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame({"site": [], "metric": [], "week": np.array([], dtype=np.int64), "value": []})


def warm(_task: int) -> int:
    """Do nothing in a worker (sent once per worker so a pool's workers start before the first run)."""
    return _task
