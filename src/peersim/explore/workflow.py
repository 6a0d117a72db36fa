"""Compare a draft with the plan on common random numbers, reporting as replicates finish.

:func:`explore_run` runs the paired replicates of :mod:`peersim.explore.evaluate`
on an executor and hands an :class:`Exploration` to ``on_update`` after each
task, so a caller (the explorer's background task, a notebook) can show
partial results; ``cancelled`` is polled between tasks, and a cancelled run
stops taking results (tasks not yet started are dropped). The numbers of a
finished run depend only on the inputs and the seed, never on the executor,
the number of workers or the order in which tasks finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from peersim.executor import Backend, Executor, TaskFailure, executor_for
from peersim.explore.evaluate import (
    ARMS,
    BATCH,
    ExploreOutput,
    ExploreTask,
    _no_rows,
    run_explore_task,
)
from peersim.explore.inputs import Draft, ExploreInputs
from peersim.planning.evaluate import OutcomeStore, failed_output
from peersim.planning.levers import PlanSpec, plan_spec
from peersim.simulation import estimated_seconds


@dataclass
class Exploration:
    """The draft, the plan and the paired replicates finished so far.

    Attributes
    ----------
    inputs, draft
        What was run.
    specs
        The plan and the draft as costed plans (index 0 and 1, :data:`ARMS`).
    store
        Outcomes of each arm and replicate finished so far.
    weekly
        Per replicate, the site's weekly values of both arms
        (:attr:`~peersim.explore.evaluate.ExploreOutput.weekly`).
    seconds
        Time since the run started (s).
    cancelled
        Whether the run was stopped before every replicate finished.
    """

    inputs: ExploreInputs
    draft: Draft
    specs: tuple[PlanSpec, PlanSpec]
    store: OutcomeStore = field(default_factory=OutcomeStore)
    weekly: dict[int, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def total(self) -> int:
        """Paired replicates asked for."""
        return self.draft.replicates

    @property
    def held(self) -> list[int]:
        """Replicates finished for both arms, in order."""
        both = self.store.held(0) & self.store.held(1)
        return sorted(both)

    @property
    def done(self) -> bool:
        """Whether every replicate asked for has finished."""
        return len(self.held) >= self.total

    def compact(self) -> OutcomeStore:
        """Return the finished pairs renumbered ``0 .. k - 1`` (for the planning analysis)."""
        held = self.held
        out = OutcomeStore()
        for arm in range(len(ARMS)):
            out.rows[arm] = {j: self.store.rows[arm][r] for j, r in enumerate(held)}
            out.years[arm] = {j: self.store.years[arm][r] for j, r in enumerate(held)}
        return out


def explore_tasks(inputs: ExploreInputs, draft: Draft, batch: int = BATCH) -> list[ExploreTask]:
    """Return the tasks of a run: paired replicates ``0 .. replicates - 1`` in batches of ``batch``."""
    plan = inputs.site.scenario
    return [
        ExploreTask(
            plan,
            draft.scenario,
            draft.seed,
            tuple(range(start, min(start + batch, draft.replicates))),
            inputs.posterior,
        )
        for start in range(0, draft.replicates, batch)
    ]


def explore_run(
    inputs: ExploreInputs,
    draft: Draft,
    executor: Executor | Backend | None = None,
    on_update: Callable[[Exploration], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Exploration:
    """Run the draft against the plan, paired replicate by paired replicate.

    Parameters
    ----------
    inputs
        The site (the plan), costs and posterior.
    draft
        The validated draft, with its replicates, target and seed.
    executor
        Where the runs go: an open executor (kept open, e.g. the explorer's
        pool), a :class:`~peersim.executor.Backend`, or ``None`` for a local
        pool sized to the work.
    on_update
        Called with the exploration after each finished task (partial results).
    cancelled
        Polled after each finished task; when it returns ``True`` the run stops
        and the exploration is returned with ``cancelled`` set.

    Returns
    -------
    Exploration
        The pairs finished (all of them unless cancelled).
    """
    start = time.perf_counter()
    plan = inputs.site.scenario
    site, costs = inputs.site, inputs.costs
    specs = (
        plan_spec(0, site.current, plan, site, costs),
        plan_spec(1, {**site.current, **draft.levers}, draft.scenario, site, costs),
    )
    exploration = Exploration(inputs, draft, specs)
    tasks = explore_tasks(inputs, draft)
    work = 2 * draft.replicates * estimated_seconds(draft.scenario)
    with executor_for(executor, work) as pool:
        outcomes = pool.imap_unordered(run_explore_task, tasks)
        try:
            for index, outcome in outcomes:
                _keep(exploration, tasks[index], outcome)
                exploration.seconds = time.perf_counter() - start
                if on_update is not None:
                    on_update(exploration)
                if cancelled is not None and cancelled():
                    exploration.cancelled = not exploration.done
                    break
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()  # drops tasks not yet started
    exploration.seconds = time.perf_counter() - start
    return exploration


def _keep(exploration: Exploration, task: ExploreTask, outcome: ExploreOutput | TaskFailure) -> None:
    if isinstance(outcome, TaskFailure):
        plan, draft = (
            failed_output(arm, task.replicates, scenario, outcome.error)
            for arm, scenario in enumerate((task.plan, task.draft))
        )
        outcome = ExploreOutput(task.replicates, (plan, draft), tuple(_no_rows() for _ in task.replicates))
    for output in outcome.outputs:
        exploration.store.add(output)
    for row, index in enumerate(outcome.replicates):
        exploration.weekly[index] = outcome.weekly[row]
