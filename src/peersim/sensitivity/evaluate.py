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
from peersim.simulation import run


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


def design_points(design: Design, space: FactorSpace, seed: int, replicates: int) -> list[Point]:
    """Return the points of ``design`` with applied (rounded) values of the real factors."""
    if replicates < 1:
        raise PeersimInputError(f"`replicates` must be at least 1, got {replicates}")
    real = design.X[:, :-1]
    return [
        Point(i, space.values(real[i]), int(design.stream[i]), seed, replicates) for i in range(design.points)
    ]


def evaluate(
    target: Target,
    points: Sequence[Point],
    executor: Executor | None = None,
    on_done: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Evaluate ``target`` at every point through ``executor``.

    Parameters
    ----------
    target
        What to evaluate.
    points
        Sample points (see :func:`design_points`).
    executor
        Any :class:`peersim.executor.Executor`; defaults to running in this process.
    on_done
        Called with each finished point's index (progress display).

    Returns
    -------
    numpy.ndarray
        Outputs, shape ``(points, replicates, outputs)``. Results are placed by
        point index, so they never depend on the executor or completion order.

    Raises
    ------
    SensitivityRunError
        If any point failed; the message gives the first failure.
    """
    if not points:
        return np.empty((0, 0, len(target.outputs)))
    replicates = points[0].replicates
    Y = np.full((len(points), replicates, len(target.outputs)), np.nan)
    failures: list[TaskFailure] = []
    own = executor is None
    runner = LocalExecutor(1) if executor is None else executor
    try:
        for index, outcome in runner.imap_unordered(target.evaluate, _Tasks(target, points)):
            if isinstance(outcome, TaskFailure):
                failures.append(outcome)
            else:
                Y[index] = outcome
            if on_done is not None:
                on_done(index)
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
