"""Planning a new site end to end: inputs checked first, then prediction, ranking and search.

:func:`prepare` reads and checks everything (site, costs, levers, targets,
budget, posterior, replicate counts) before any simulation, so bad input fails
in well under a second. :func:`plan` then runs, on one executor, through a
:class:`PlanEvaluator`:

1. the site as given and each lever step at the full replicate count, and
   every other plan of the grid at the screening count (one pass);
2. the confirmation stage of the search (:func:`peersim.planning.search.search`).

:mod:`peersim.planning.report` turns the :class:`PlanResult` into its JSON
document, its Markdown report and its output files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from peersim.errors import PeersimInputError, ScenarioError
from peersim.executor import Executor, Progress, no_progress
from peersim.planning.analysis import (
    DEFAULT_RANK_METRIC,
    CostEffect,
    PlanStats,
    PredictionRow,
    Ranking,
    cost_per_readmission_averted,
    frontier_table,
    plan_frame,
    plan_stats,
    prediction,
    rank_levers,
)
from peersim.planning.evaluate import OutcomeStore, Request, evaluate
from peersim.planning.inputs import (
    CONFIDENCE,
    DEFAULT_PROBABILITY,
    Costs,
    PlanningSite,
    Target,
    check_budget,
    load_costs,
    load_planning_site,
    min_replicates,
    parse_targets,
)
from peersim.planning.levers import LeverSpace, PlanSpec, build_plans, lever_space, lever_steps
from peersim.planning.search import SearchResult, search
from peersim.uncertainty import Posterior, load_posterior


def default_screen_replicates(replicates: int) -> int:
    """Screening replicates per plan: a tenth of the full count, at least 4 (at most all)."""
    return min(replicates, max(4, math.ceil(replicates / 10)))


@dataclass(frozen=True)
class PlanInputs:
    """Everything a plan needs, checked.

    Attributes
    ----------
    site, costs, space
        The site as given, the costs file and the lever grid it opens.
    targets, budget, probability
        The chance-constrained problem (see :mod:`peersim.planning.inputs`):
        targets every replicate must meet, a yearly budget in the costs file's
        currency (``None``: none) and the probability, in (0, 1), with which a
        recommended plan meets every target.
    posterior
        Mechanism strengths drawn per replicate; ``None`` runs the scenario's
        point values (the plan then carries only the model's own randomness).
    replicates, screen_replicates, seed
        Full and screening replicate counts (2 <= screen <= full), and the base seed.
    confidence
        One-sided confidence, in (0, 1), of the Wilson bounds judging the probability.
    """

    site: PlanningSite
    costs: Costs
    space: LeverSpace
    targets: tuple[Target, ...]
    budget: float | None
    posterior: Posterior | None
    replicates: int
    screen_replicates: int
    seed: int
    probability: float = DEFAULT_PROBABILITY
    confidence: float = CONFIDENCE

    @property
    def rank_metric(self) -> tuple[str, bool]:
        """Metric the levers are ranked by (the first target's, else engagement) and its direction."""
        if self.targets:
            return self.targets[0].metric, self.targets[0].higher_is_better
        return DEFAULT_RANK_METRIC, True


def prepare(
    site_path: str | Path,
    costs_path: str | Path | None,
    budget: float | None = None,
    targets: Sequence[str] = (),
    posterior_path: str | Path | None = None,
    replicates: int = 40,
    screen_replicates: int | None = None,
    seed: int = 0,
    probability: float = DEFAULT_PROBABILITY,
) -> PlanInputs:
    """Read and check every input of a plan, before any simulation.

    Parameters
    ----------
    site_path
        One-site scenario file in service mode (the site as drafted).
    costs_path
        Costs file; ``None`` reads the packaged ``costs_default.toml``.
    budget
        Yearly budget in the costs file's currency, 0 or more; ``None`` for none.
    targets
        ``METRIC>=VALUE`` or ``METRIC<=VALUE`` texts (:func:`~peersim.planning.inputs.parse_target`).
    posterior_path
        Posterior file to draw mechanism strengths from, one particle per
        replicate; ``None`` runs the scenario's point values.
    replicates
        Replicates per confirmed plan, at least 2 (with targets, at least
        :func:`~peersim.planning.inputs.min_replicates`).
    screen_replicates
        Replicates every plan of the grid is screened with, 2 to ``replicates``;
        ``None`` for :func:`default_screen_replicates`.
    seed
        Base seed, shared by every plan (common random numbers).
    probability
        Probability, in (0, 1), with which a recommended plan must meet every target.

    Raises
    ------
    PeersimInputError
        For any bad input, naming the file and key or the argument.
    """
    if replicates < 2:
        raise PeersimInputError(f"`replicates` {replicates}: at least 2 are needed for intervals")
    if not 0.0 < probability < 1.0:
        raise PeersimInputError(f"`probability` {probability}: must lie strictly between 0 and 1")
    parsed = parse_targets(targets)
    needed = min_replicates(probability)
    if parsed and replicates < needed:
        raise PeersimInputError(
            f"`replicates` {replicates}: with targets, at least {needed} replicates are needed to show "
            f"with {CONFIDENCE:.0%} confidence that a plan meets them with probability {probability:g}"
        )
    screen = default_screen_replicates(replicates) if screen_replicates is None else screen_replicates
    if not 2 <= screen <= replicates:
        raise PeersimInputError(
            f"`screen_replicates` {screen}: must be between 2 and `replicates` {replicates}"
        )
    site = load_planning_site(site_path)
    costs = load_costs(costs_path)
    space = lever_space(costs, site)
    return PlanInputs(
        site=site,
        costs=costs,
        space=space,
        targets=parsed,
        budget=check_budget(budget),
        # Without a posterior a plan runs the scenario's point values, not the shipped posterior.
        posterior=load_posterior(posterior_path) if posterior_path is not None else None,
        replicates=replicates,
        screen_replicates=screen,
        seed=seed,
        probability=probability,
    )


@dataclass
class PlanResult:
    """What :func:`plan` found. See :mod:`peersim.planning.report` for its JSON and Markdown forms."""

    inputs: PlanInputs
    plans: list[PlanSpec]
    current: int
    prediction: list[PredictionRow]
    cost_effect: CostEffect
    ranking: Ranking
    search: SearchResult
    frontier: pd.DataFrame
    stats: dict[int, PlanStats]
    """Statistics of the plans the report names, from every replicate held."""
    frames: dict[int, pd.DataFrame]
    """Per-replicate tables of the plans the report names."""
    runs: int
    seconds: float
    failures: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def current_over_budget(self) -> bool:
        """Whether the site as given costs more than the budget (expected yearly cost)."""
        budget = self.inputs.budget
        return budget is not None and self.stats[self.current].cost_mean > budget

    @property
    def named_plans(self) -> dict[str, int]:
        """Plans the report names, by role."""
        s = self.search
        roles = {
            "current": self.current,
            "recommended": s.recommended,
            "cheapest_reaching_targets": s.cheapest_reaching,
            "best_within_budget": s.best_within_budget,
            "best_overall": s.best_overall,
        }
        return {role: index for role, index in roles.items() if index is not None}


class PlanEvaluator:
    """The plans of a grid, the outcomes of their replicates so far, and the executor that runs more.

    It offers what prediction, ranking, frontier
    (:class:`~peersim.planning.analysis.PlanOutcomes`) and the search
    (:class:`~peersim.planning.search.Evaluator`) need. Statistics are cached
    per plan and replicate count, so asking again costs nothing until more
    replicates are held.

    Parameters
    ----------
    inputs
        The checked inputs (site, costs, targets, posterior, seed).
    plans
        Every plan of the grid (:func:`~peersim.planning.levers.build_plans`).
    executor
        Where replicates run.
    progress
        Progress display, one per phase of work.

    Attributes
    ----------
    store
        Outcomes of every replicate run so far, and the failures.
    runs
        Model runs made so far (replicates, finished or failed).
    """

    def __init__(
        self,
        inputs: PlanInputs,
        plans: Sequence[PlanSpec],
        executor: Executor,
        progress: Progress = no_progress,
    ) -> None:
        self.inputs = inputs
        self._plans = list(plans)
        self.executor = executor
        self.progress = progress
        self.store = OutcomeStore()
        self.runs = 0
        self._stats: dict[tuple[int, int], PlanStats] = {}

    @property
    def plans(self) -> list[PlanSpec]:
        """Every plan of the grid, in grid order."""
        return self._plans

    def run(self, requests: Sequence[Request], label: str) -> None:
        """Run what ``requests`` need that is not held yet, showing progress as ``label``."""
        total = sum(max(0, r.replicates - len(self.store.held(r.plan))) for r in requests)
        if total == 0:
            return
        with self.progress(label, total) as advance:
            self.runs += evaluate(
                requests, self.store, self.inputs.seed, self.executor, self.inputs.posterior, advance
            )

    def ensure(self, indices: Sequence[int], replicates: int) -> None:
        """Run the plans ``indices`` up to ``replicates`` replicates each (the confirmation stage)."""
        self.run([Request(i, self._plans[i].scenario, replicates) for i in indices], "plan: confirm")

    def frame(self, index: int) -> pd.DataFrame:
        """Per-replicate table of plan ``index`` over the replicates held without a gap."""
        inputs = self.inputs
        return plan_frame(self.store, self._plans[index], self.store.n_held(index), inputs.site, inputs.costs)

    def stats(self, index: int) -> PlanStats:
        """Statistics of plan ``index`` from the replicates held."""
        key = (index, self.store.n_held(index))
        if key not in self._stats:
            targets, confidence = self.inputs.targets, self.inputs.confidence
            self._stats[key] = plan_stats(self.frame(index), self._plans[index], targets, confidence)
        return self._stats[key]


def plan(inputs: PlanInputs, executor: Executor, progress: Progress = no_progress) -> PlanResult:
    """Predict, rank the levers and search the grid for a site (see the module docstring).

    Parameters
    ----------
    inputs
        Checked inputs (:func:`prepare`).
    executor
        Where replicates run; results do not depend on it.
    progress
        Progress display, one per phase (``"plan: screen"``, ``"plan: confirm"``).

    Raises
    ------
    PeersimInputError
        If a lever combination is invalid, or every replicate of the site as
        given fails.
    """
    started = time.perf_counter()
    site, costs = inputs.site, inputs.costs
    try:
        plans, current = build_plans(site, inputs.space, costs)
    except ScenarioError as error:
        raise PeersimInputError(f"{costs.source}: a lever combination is not a valid site: {error}") from None
    steps = lever_steps(inputs.space, plans, current)
    full = {current, *(step.plan for step in steps)}
    runs = PlanEvaluator(inputs, plans, executor, progress)
    screen = [
        Request(p.index, p.scenario, inputs.replicates if p.index in full else inputs.screen_replicates)
        for p in plans
    ]
    runs.run(screen, "plan: screen")

    base = runs.frame(current)
    if base["participants"].isna().all():
        first_error = next(iter(runs.store.failures.values()), "unknown error")
        raise PeersimInputError(f"{site.source}: every replicate of the site as given failed: {first_error}")
    metric, higher = inputs.rank_metric
    ranking = rank_levers(runs, current, steps, metric, higher)
    found = search(
        runs,
        inputs.targets,
        inputs.budget,
        inputs.replicates,
        inputs.probability,
        metric,
        higher,
        chunk=max(2, executor.workers),
    )
    result = PlanResult(
        inputs=inputs,
        plans=plans,
        current=current,
        prediction=prediction(base),
        cost_effect=cost_per_readmission_averted(base),
        ranking=ranking,
        search=found,
        frontier=frontier_table(runs, bool(inputs.targets)),
        stats={},
        frames={},
        runs=runs.runs,
        seconds=0.0,
        failures=dict(runs.store.failures),
    )
    for index in {*result.named_plans.values(), *(s.plan for s in ranking.steps)}:
        result.stats[index] = runs.stats(index)
        result.frames[index] = runs.frame(index)
    result.seconds = time.perf_counter() - started
    return result
