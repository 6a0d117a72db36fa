"""Evaluate a design: one task per sample point, mapped through a peersim executor.

A :class:`Target` is what the engine evaluates. It turns one sample point into a
picklable task, and names a module-level function that runs the task and returns
an array of shape ``(replicates, outputs)``. :class:`PeersimTarget` runs the
model with :func:`peersim.run`; :mod:`peersim.sensitivity.testfunctions` holds
analytic targets (Ishigami) that go through exactly the same engine, which is
how the known-answer tests check it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, overload

import numpy as np

from peersim.core.results import METRICS, OVERALL
from peersim.core.scenario import Scenario
from peersim.errors import PeersimInputError
from peersim.executor import Executor, LocalExecutor, TaskFailure
from peersim.sensitivity.design import Design, point_seed
from peersim.sensitivity.inputs import FactorSpace, apply_point
from peersim.simulation import estimated_seconds, run


@dataclass(frozen=True)
class Point:
    """One sample point as a target sees it.

    Attributes
    ----------
    index
        Row of the design.
    values
        Applied values of the real factors (rounded where needed), dummy excluded.
    stream
        Random-number group: 0 for common random numbers; see :mod:`peersim.sensitivity.design`.
    seed
        Base seed.
    replicates
        Replicates to run at this point.
    """

    index: int
    values: tuple[float, ...]
    stream: int
    seed: int
    replicates: int

    def replicate_seed(self, r: int) -> np.random.SeedSequence:
        """Seed of replicate ``r``: ``replicate_seed(seed, r)`` on common random numbers (group 0)."""
        return point_seed(self.seed, self.stream, r)


class Target(Protocol):
    """Something the engine can evaluate at sample points."""

    @property
    def outputs(self) -> tuple[str, ...]:
        """Names of the outputs, in the column order of :attr:`evaluate`'s result."""
        ...

    @property
    def evaluate(self) -> Callable[[Any], np.ndarray]:
        """Module-level function: task -> array ``(replicates, len(outputs))``."""
        ...

    def task(self, point: Point) -> Any:
        """Return the picklable task that evaluates ``point``."""
        ...

    def stamp(self) -> dict[str, Any]:
        """Identify what was evaluated (scenario name and hash, ...), for output tables."""
        ...


# --------------------------------------------------------------------------- peersim target


def parse_output(text: str, scenario: Scenario) -> tuple[str, str]:
    """Split ``metric`` or ``metric@site`` into ``(metric, site)``, checking both exist.

    Raises
    ------
    PeersimInputError
        Naming the valid metrics or sites.
    """
    metric, _, site = text.strip().partition("@")
    site = site or OVERALL
    if metric not in METRICS:
        raise PeersimInputError(
            f"`outputs`: unknown metric {metric!r}; valid metrics are: {', '.join(METRICS)}"
        )
    names = [s.name for s in scenario.sites]
    if site != OVERALL and site not in names:
        raise PeersimInputError(
            f"`outputs`: {text!r} names site {site!r}, not in scenario {scenario.name!r}; "
            f"its sites are: {', '.join(names)} (or leave off '@site' for all sites pooled)"
        )
    return metric, site


@dataclass(frozen=True)
class ScenarioTask:
    """Replicates of one scenario at one sample point."""

    scenario: Scenario
    point: Point
    outputs: tuple[tuple[str, str], ...]


def run_scenario_point(task: ScenarioTask) -> np.ndarray:
    """Run every replicate of a point and return ``(replicates, outputs)`` headline metrics."""
    out = np.empty((task.point.replicates, len(task.outputs)))
    for r in range(task.point.replicates):
        result = run(task.scenario, task.point.replicate_seed(r))
        table = result.metrics.set_index(["metric", "site"])["value"]
        out[r] = [table[(metric, site)] for metric, site in task.outputs]
    return out


class PeersimTarget:
    """The peersim model: apply a point to a base scenario and run it with :func:`peersim.run`.

    Parameters
    ----------
    scenario
        Base scenario; factors not varied keep its values.
    space
        Factors applied at each point.
    outputs
        Headline metrics (``metric`` for all sites pooled, or ``metric@site``).
    """

    def __init__(self, scenario: Scenario, space: FactorSpace, outputs: Sequence[str]) -> None:
        if not outputs:
            raise PeersimInputError("`outputs`: name at least one metric")
        self.scenario = scenario
        self.space = space
        self._parsed = tuple(parse_output(o, scenario) for o in outputs)
        self._outputs = tuple(m if s == OVERALL else f"{m}@{s}" for m, s in self._parsed)
        if len(set(self._outputs)) != len(self._outputs):
            raise PeersimInputError(f"`outputs`: a metric is listed twice in {', '.join(outputs)}")
        self._base = scenario.to_toml_dict()

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output names (``metric`` or ``metric@site``)."""
        return self._outputs

    @property
    def evaluate(self) -> Callable[[Any], np.ndarray]:
        """:func:`run_scenario_point`."""
        return run_scenario_point

    @property
    def seconds_per_replicate(self) -> float:
        """Rough serial seconds of one replicate (:func:`peersim.simulation.estimated_seconds`)."""
        return estimated_seconds(self.scenario)

    def scenario_at(self, point: Point) -> Scenario:
        """Return the validated scenario at ``point``."""
        where = ", ".join(f"{f.label}={v:g}" for f, v in zip(self.space.factors, point.values, strict=True))
        return apply_point(
            self._base, self.space, point.values, source=f"sample point {point.index} ({where})"
        )

    def task(self, point: Point) -> ScenarioTask:
        """Build the scenario at ``point`` (validated here, in this process)."""
        return ScenarioTask(self.scenario_at(point), point, self._parsed)

    def stamp(self) -> dict[str, Any]:
        """Scenario name and hash, and the factors file's hash."""
        return {
            "scenario": self.scenario.name,
            "scenario_hash": self.scenario.hash,
            "factors_source": self.space.source,
            "factors_hash": self.space.text_hash,
        }


# --------------------------------------------------------------------------- evaluation


class SensitivityRunError(RuntimeError):
    """Some sample points failed to run (not an input problem: a model error)."""


class _Tasks(Sequence[Any]):
    """Tasks built on demand, so a long design never holds every scenario in memory."""

    def __init__(self, target: Target, points: Sequence[Point]) -> None:
        self._target = target
        self._points = points

    def __len__(self) -> int:
        return len(self._points)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._target.task(p) for p in self._points[index]]
        return self._target.task(self._points[index])

    def __iter__(self) -> Iterator[Any]:
        for point in self._points:
            yield self._target.task(point)


class DesignPoints(Sequence[Point]):
    """The points of a design, each built when asked for: no list of every point is ever held.

    Parameters
    ----------
    design
        The design.
    space
        Its factor space (applied values are rounded where needed).
    seed, replicates
        Base seed and replicates of every point.
    rows
        Design rows to offer, in order (default: every row); ``Point.index`` is
        always the design row.
    """

    def __init__(
        self,
        design: Design,
        space: FactorSpace,
        seed: int,
        replicates: int,
        rows: np.ndarray | None = None,
    ) -> None:
        self.design = design
        self.space = space
        self.seed = seed
        self.replicates = replicates
        self.rows = np.arange(design.points) if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def point(self, row: int) -> Point:
        """Return the point of design row ``row``."""
        design = self.design
        values = self.space.values(design.X[row, :-1])
        return Point(row, values, int(design.stream[row]), self.seed, self.replicates)

    @overload
    def __getitem__(self, index: int) -> Point: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Point]: ...
    def __getitem__(self, index: int | slice) -> Point | Sequence[Point]:
        if isinstance(index, slice):
            return DesignPoints(self.design, self.space, self.seed, self.replicates, self.rows[index])
        return self.point(int(self.rows[index]))

    def __iter__(self) -> Iterator[Point]:
        for row in self.rows:
            yield self.point(int(row))


def design_points(design: Design, space: FactorSpace, seed: int, replicates: int) -> DesignPoints:
    """Return the points of ``design`` with applied (rounded) values of the real factors."""
    if replicates < 1:
        raise PeersimInputError(f"`replicates` must be at least 1, got {replicates}")
    return DesignPoints(design, space, seed, replicates)


def evaluate(
    target: Target,
    points: Sequence[Point],
    executor: Executor | None = None,
    on_done: Callable[[int], None] | None = None,
    known: tuple[np.ndarray, np.ndarray] | None = None,
    keep: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Evaluate ``target`` at every point through ``executor``.

    Parameters
    ----------
    target
        What to evaluate.
    points
        Sample points (see :func:`design_points`), all with the same replicates.
    executor
        Any :class:`peersim.executor.Executor`; defaults to running in this process.
    on_done
        Called with each newly finished point's index (progress display).
    known
        Outputs already held (kept by an earlier run): an array shaped like the
        result and a boolean array saying which rows of it are held. Those
        points are not run again.
    keep
        Called with each newly finished point's index and outputs, as it finishes.

    Returns
    -------
    numpy.ndarray
        Outputs, shape ``(points, replicates, outputs)``, row ``i`` for ``points[i]``.
        Results are placed by point, so they never depend on the executor, the
        completion order or which points were known.

    Raises
    ------
    SensitivityRunError
        If any point failed; the message gives the first failure.
    """
    if not points:
        return np.empty((0, 0, len(target.outputs)))
    replicates = points[0].replicates
    shape = (len(points), replicates, len(target.outputs))
    if known is None:
        Y, missing = np.full(shape, np.nan), np.arange(len(points))
    else:
        Y, missing = known[0].copy(), np.flatnonzero(~known[1])
    failures: list[TaskFailure] = []
    own = executor is None
    runner = LocalExecutor(1) if executor is None else executor
    try:
        tasks = _Tasks(target, _Subset(points, missing))
        for index, outcome in runner.imap_unordered(target.evaluate, tasks):
            row = int(missing[index])
            if isinstance(outcome, TaskFailure):
                failures.append(TaskFailure(points[row].index, outcome.error, outcome.traceback))
            else:
                Y[row] = outcome
                if keep is not None:
                    keep(points[row].index, Y[row])
            if on_done is not None:
                on_done(points[row].index)
    finally:
        if own:
            runner.close()
    if failures:
        first = min(failures, key=lambda f: f.index)
        raise SensitivityRunError(
            f"{len(failures)} of {len(points)} sample points failed; first (point {first.index}): "
            f"{first.error}\n{first.traceback}"
        )
    return Y


class _Subset(Sequence[Point]):
    """Some of the points of a sequence, by position (a design's rows stay an array)."""

    def __init__(self, points: Sequence[Point], positions: np.ndarray) -> None:
        self._points = points
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, index: int) -> Point: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Point]: ...
    def __getitem__(self, index: int | slice) -> Point | Sequence[Point]:
        if isinstance(index, slice):
            return [self._points[int(i)] for i in self._positions[index]]
        return self._points[int(self._positions[index])]
