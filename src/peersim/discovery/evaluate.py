"""Run every replicate of every design point through a peersim executor.

One task per design point: the point's scenario (built and validated in this
process, :func:`~peersim.discovery.inputs.scenario_at`), the seeds of its
replicates (:func:`~peersim.discovery.design.run_seed`) and the posterior.
A worker runs each replicate with :class:`peersim.simulation.Runner` and sends
back the site's headline outcomes (:func:`peersim.planning.evaluate.outcome_row`,
the same numbers a plan reads), NaN where a replicate raised. Outcomes are
placed by point and replicate, so they never depend on the executor, the
number of workers or the order in which tasks finish.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from peersim.core.scenario import Scenario
from peersim.discovery.design import Design, run_seed
from peersim.discovery.inputs import scenario_at
from peersim.executor import Executor, TaskFailure
from peersim.planning.evaluate import OUTCOMES, outcome_row
from peersim.planning.inputs import PlanningSite
from peersim.simulation import Runner
from peersim.uncertainty import Posterior

__all__ = ["OUTCOMES", "PointOutput", "PointTask", "evaluate", "run_point"]


@dataclass(frozen=True)
class PointTask:
    """The replicates of one design point."""

    point: int
    scenario: Scenario
    seeds: tuple[np.random.SeedSequence, ...]
    posterior: Posterior | None = None


@dataclass(frozen=True)
class PointOutput:
    """What a task sends back.

    Attributes
    ----------
    point
        The design point.
    values
        One row of :data:`~peersim.planning.evaluate.OUTCOMES` per replicate, NaN where it failed.
    failures
        ``(replicate, error text)`` of each replicate that raised.
    """

    point: int
    values: np.ndarray
    failures: tuple[tuple[int, str], ...] = ()


def run_point(task: PointTask) -> PointOutput:
    """Run a point's replicates (module-level, so executors can send it to workers)."""
    values = np.full((len(task.seeds), len(OUTCOMES)), np.nan)
    failures: list[tuple[int, str]] = []
    runner = Runner(task.posterior)
    for r, seed in enumerate(task.seeds):
        try:
            values[r] = outcome_row(runner(task.scenario, seed))
        except Exception as error:  # one failing replicate must not stop the others
            failures.append((r, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}"))
    return PointOutput(task.point, values, tuple(failures))


class _Tasks(Sequence[PointTask]):
    """The tasks of a design, each built when asked for (a long design never holds every scenario)."""

    def __init__(
        self, site: PlanningSite, design: Design, replicates: int, posterior: Posterior | None
    ) -> None:
        self._site = site
        self._design = design
        self._replicates = replicates
        self._posterior = posterior

    def __len__(self) -> int:
        return self._design.n

    def task(self, i: int) -> PointTask:
        design = self._design
        values = tuple(float(v) for v in design.values[i])
        shown = ", ".join(f"{f.label}={v:g}" for f, v in zip(design.space.factors, values, strict=True))
        scenario = scenario_at(self._site, design.space, values, source=f"design point {i} ({shown})")
        seeds = tuple(run_seed(design.seed, i, r) for r in range(self._replicates))
        return PointTask(i, scenario, seeds, self._posterior)

    @overload
    def __getitem__(self, index: int) -> PointTask: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PointTask]: ...
    def __getitem__(self, index: int | slice) -> PointTask | Sequence[PointTask]:
        if isinstance(index, slice):
            return [self.task(i) for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.task(index)

    def __iter__(self) -> Iterator[PointTask]:
        for i in range(len(self)):
            yield self.task(i)


def evaluate(
    site: PlanningSite,
    design: Design,
    replicates: int,
    executor: Executor,
    posterior: Posterior | None = None,
    advance: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, dict[tuple[int, int], str]]:
    """Run ``replicates`` replicates at every point of ``design`` on ``executor``.

    Parameters
    ----------
    site
        The site the factors are applied to.
    design
        The design points.
    replicates
        Replicates per point, at least 1.
    executor
        Where the points run.
    posterior
        Each run draws its mechanism strengths from it (one particle a run);
        ``None`` runs the scenario's point values.
    advance
        Called with 1 as each point finishes (progress display).

    Returns
    -------
    tuple
        The outcomes, shape ``(points, replicates, len(OUTCOMES))`` (NaN where a
        replicate failed), and the error of each failed ``(point, replicate)``.
        A task lost as a whole (a worker killed) counts as failed replicates.
    """
    values = np.full((design.n, replicates, len(OUTCOMES)), np.nan)
    failures: dict[tuple[int, int], str] = {}
    tasks = _Tasks(site, design, replicates, posterior)
    for index, outcome in executor.imap_unordered(run_point, tasks):
        if isinstance(outcome, TaskFailure):
            failures.update({(index, r): outcome.error for r in range(replicates)})
        else:
            values[outcome.point] = outcome.values
            failures.update({(outcome.point, r): error for r, error in outcome.failures})
        if advance is not None:
            advance(1)
    return values, failures
