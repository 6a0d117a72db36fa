"""Planning a new site end to end: inputs checked first, then prediction, ranking and search.

:func:`prepare` reads and checks everything (site, costs, levers, targets,
budget, posterior, replicate counts) before any simulation, so bad input fails
in well under a second. :func:`plan` then runs, on one executor:

1. the site as given and each lever step at the full replicate count, and
   every other plan of the grid at the screening count (one pass);
2. the confirmation stage of the search (:func:`peersim.planning.analysis.search`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from peersim.errors import PeersimInputError, ScenarioError
from peersim.executor import Executor
from peersim.planning.analysis import (
    DEFAULT_RANK_METRIC,
    CostEffect,
    PlanSpec,
    PlanStats,
    PredictionRow,
    Ranking,
    SearchResult,
    build_plans,
    cost_per_readmission_averted,
    frontier_table,
    plan_frame,
    plan_stats,
    prediction,
    rank_levers,
    search,
)
from peersim.planning.costs import Costs, load_costs
from peersim.planning.evaluate import OutcomeStore, Request, evaluate
from peersim.planning.levers import (
    LEVERS,
    LeverSpace,
    LeverValue,
    PlanningSite,
    check_budget,
    lever_space,
    planning_site,
)
from peersim.planning.targets import CONFIDENCE, DEFAULT_PROBABILITY, Target, min_replicates, parse_targets
from peersim.scenario_io import load_scenario
from peersim.toml_io import parse_toml, read_text_file

if TYPE_CHECKING:
    from peersim.calibration.posterior import Posterior

Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]
"""Makes a progress display for a phase: ``progress(label, total)`` yields ``advance(n)``."""


@contextmanager
def no_progress(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
    """Show no progress (the default progress display)."""
    yield lambda _n: None


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
        The chance-constrained problem (see :mod:`peersim.planning.targets`).
    posterior
        Mechanism strengths drawn per replicate; ``None`` runs the scenario's
        point values (the plan then carries only the model's own randomness).
    replicates, screen_replicates, seed
        Full and screening replicate counts, and the base seed.
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


def load_planning_site(path: str | Path) -> PlanningSite:
    """Read a site file and check it is one site in service mode.

    Raises
    ------
    ScenarioError
        For a missing, malformed or invalid file, several sites or trial mode.
    """
    scenario = load_scenario(path)  # names the file and key path on any failure
    text = read_text_file(path)
    return planning_site(scenario, parse_toml(text, str(path)), str(path), text)


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

    Raises
    ------
    PeersimInputError
        For any bad input, naming the file and key or the option.
    """
    if replicates < 2:
        raise PeersimInputError(f"--replicates {replicates}: at least 2 are needed for intervals")
    if not 0.0 < probability < 1.0:
        raise PeersimInputError(f"probability {probability}: must lie strictly between 0 and 1")
    parsed = parse_targets(targets)
    needed = min_replicates(probability)
    if parsed and replicates < needed:
        raise PeersimInputError(
            f"--replicates {replicates}: with targets, at least {needed} replicates are needed to show "
            f"with {CONFIDENCE:.0%} confidence that a plan meets them with probability {probability:g}"
        )
    screen = default_screen_replicates(replicates) if screen_replicates is None else screen_replicates
    if not 2 <= screen <= replicates:
        raise PeersimInputError(
            f"screening replicates {screen}: must be between 2 and --replicates {replicates}"
        )
    from peersim.calibration.posterior import load_posterior

    site = load_planning_site(site_path)
    costs = load_costs(costs_path)
    space = lever_space(costs, site)
    return PlanInputs(
        site=site,
        costs=costs,
        space=space,
        targets=parsed,
        budget=check_budget(budget),
        # Without --posterior a plan runs the scenario's point values, not the shipped posterior.
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


def plan(inputs: PlanInputs, executor: Executor, progress: Progress = no_progress) -> PlanResult:
    """Predict, rank the levers and search the grid for a site (see the module docstring).

    Raises
    ------
    PeersimInputError
        If a lever combination is invalid, or every replicate of the site as
        given fails.
    """
    started = time.perf_counter()
    site, costs, space = inputs.site, inputs.costs, inputs.space
    try:
        plans, current = build_plans(site, space, costs)
    except ScenarioError as error:
        raise PeersimInputError(f"{costs.source}: a lever combination is not a valid site: {error}") from None
    lookup = {_key(p.levers): p.index for p in plans}
    store = OutcomeStore()
    n, screen = inputs.replicates, inputs.screen_replicates
    runs = 0

    steps: list[tuple[str, LeverValue, LeverValue, str, int]] = []
    for lever in space.levers:
        step = lever.step()
        if step is not None:
            after, direction = step
            levers = {**plans[current].levers, lever.name: after}
            steps.append((lever.name, lever.current, after, direction, lookup[_key(levers)]))
    full = {current, *(s[4] for s in steps)}

    def run_requests(requests: list[Request], label: str) -> None:
        nonlocal runs
        total = sum(max(0, r.replicates - len(store.held(r.plan))) for r in requests)
        if total == 0:
            return
        with progress(label, total) as advance:
            runs += evaluate(requests, store, inputs.seed, executor, inputs.posterior, advance)

    first = [Request(p.index, p.scenario, n if p.index in full else screen) for p in plans]
    run_requests(first, "plan: screen")

    cache: dict[tuple[int, int], PlanStats] = {}

    def frame(index: int) -> pd.DataFrame:
        return plan_frame(store, plans[index], store.n_held(index), site, costs)

    def stats(index: int) -> PlanStats:
        key = (index, store.n_held(index))
        if key not in cache:
            cache[key] = plan_stats(frame(index), plans[index], inputs.targets, inputs.confidence)
        return cache[key]

    base = frame(current)
    if base["participants"].isna().all():
        first_error = next(iter(store.failures.values()), "unknown error")
        raise PeersimInputError(f"{site.source}: every replicate of the site as given failed: {first_error}")
    metric, higher = inputs.rank_metric
    ranking = rank_levers(
        base,
        [(name, before, after, direction, plans[i], frame(i)) for name, before, after, direction, i in steps],
        plans[current].cost,
        metric,
        higher,
    )

    def ensure(indices: Sequence[int], replicates: int) -> None:
        run_requests([Request(i, plans[i].scenario, replicates) for i in indices], "plan: confirm")

    found = search(
        plans,
        stats,
        ensure,
        inputs.targets,
        inputs.budget,
        n,
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
        frontier=frontier_table(plans, stats, bool(inputs.targets)),
        stats={},
        frames={},
        runs=runs,
        seconds=0.0,
        failures=dict(store.failures),
    )
    for index in {*result.named_plans.values(), *(s.plan for s in ranking.steps)}:
        result.stats[index] = stats(index)
        result.frames[index] = frame(index)
    result.seconds = time.perf_counter() - started
    return result


def check_plan(
    inputs: PlanInputs, spec: PlanSpec, seed: int, replicates: int, executor: Executor
) -> tuple[PlanStats, pd.DataFrame]:
    """Re-run one plan independently (another base seed) and judge it again.

    Returns its statistics (cost, means, share meeting every target with its
    Wilson bounds) and its per-replicate table.
    """
    store = OutcomeStore()
    evaluate([Request(spec.index, spec.scenario, replicates)], store, seed, executor, inputs.posterior)
    table = plan_frame(store, spec, replicates, inputs.site, inputs.costs)
    return plan_stats(table, spec, inputs.targets, inputs.confidence), table


def _key(levers: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(levers[name] for name in LEVERS)
