"""The search for the cheapest plan of the lever grid meeting every target within the budget.

The lever grid is searched exhaustively, in two stages:

1. **screen**: every plan runs a few replicates (common random numbers);
2. **confirm**: plans whose screen cannot rule out the targets (upper Wilson
   bound >= the required probability) are taken, in order of expected cost,
   through doubling replicate counts up to the full count (:func:`stages`), and
   dropped as soon as their upper bound falls below the probability; a plan is
   accepted only at the full count (lower Wilson bound >= the probability; see
   :mod:`peersim.planning.inputs`). This goes on until a plan is accepted and
   no cheaper candidate is left. Committed costs are exact and travel is never
   negative, so a plan whose committed cost exceeds the accepted plan's
   expected cost cannot be cheaper: the first accepted plan in this order is
   the cheapest in the grid.

A plan is *within budget* when the upper end of the 95% interval of its
expected yearly cost (resourcing, known exactly, plus simulated travel) is at
most the budget.

The search reads plans and asks for more replicates through an
:class:`Evaluator`, so it runs on any executor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from peersim.planning.analysis import DEFAULT_RANK_METRIC, PlanOutcomes, PlanStats
from peersim.planning.inputs import DEFAULT_PROBABILITY, Target


class Evaluator(PlanOutcomes, Protocol):
    """Plans with the replicates held so far, which can run more of them (what the search needs)."""

    def ensure(self, indices: Sequence[int], replicates: int) -> None:
        """Run the plans ``indices`` up to ``replicates`` replicates each (those held are kept)."""
        ...


@dataclass
class SearchResult:
    """Outcome of the search for the cheapest plan meeting the targets within the budget.

    ``status`` is one of:

    * ``feasible``: ``recommended`` meets every target with the required
      probability and is within budget (or no budget was given);
    * ``infeasible_budget``: plans reach the targets, but none within budget;
      ``cheapest_reaching`` is the cheapest that does, ``best_within_budget``
      the within-budget plan most likely to meet them;
    * ``infeasible_targets``: no plan in the grid reaches the targets with the
      required probability; ``best_within_budget`` (or ``best_overall``) is the
      one most likely to;
    * ``best_within_budget``: no targets; ``recommended`` is the within-budget
      plan with the best expected rank metric;
    * ``no_budget_plan``: a budget below every plan's cost;
    * ``no_recommendation``: neither targets nor a budget were given.

    Plans are named by their index in the grid.
    """

    status: str
    recommended: int | None = None
    cheapest_reaching: int | None = None
    best_within_budget: int | None = None
    best_overall: int | None = None
    best_values_within_budget: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per target text: the best expected value of its metric, the plan and its replicates."""
    confirmed: list[int] = field(default_factory=list)
    """Plans run to the full replicate count during the search."""
    candidates: int = 0
    """Plans the screen could not rule out."""
    tried: int = 0
    """Candidates taken into confirmation (some ruled out on the way)."""


def search(
    runs: Evaluator,
    targets: Sequence[Target],
    budget: float | None,
    replicates: int,
    probability: float = DEFAULT_PROBABILITY,
    rank_metric: str = DEFAULT_RANK_METRIC,
    higher_is_better: bool = True,
    chunk: int = 2,
) -> SearchResult:
    """Find the cheapest plan meeting every target with ``probability``, within ``budget``.

    Parameters
    ----------
    runs
        The grid; every plan must already hold its screening replicates. The
        confirmation stage runs more through :meth:`Evaluator.ensure`.
    targets, budget, probability
        The chance-constrained problem (see the module docstring); ``budget``
        is a yearly amount in the costs file's currency, ``probability`` in (0, 1).
    replicates
        Replicates a plan is confirmed with.
    rank_metric, higher_is_better
        Without targets, a budget recommendation maximises this metric.
    chunk
        Plans confirmed together (keeps every worker busy), at least 1.
    """
    plans = runs.plans
    if not targets:
        if budget is None:
            return SearchResult("no_recommendation")
        affordable = [p.index for p in plans if runs.stats(p.index).cost_mean <= budget]
        if not affordable:
            return SearchResult("no_budget_plan", best_overall=_cheapest(runs))
        sign = 1.0 if higher_is_better else -1.0
        top = sorted(affordable, key=lambda i: -sign * _nan_low(runs.stats(i).means[rank_metric], sign))[:3]
        runs.ensure(top, replicates)
        ok = [i for i in top if _within(runs.stats(i), budget)]
        if not ok:
            return SearchResult("no_budget_plan", best_overall=_cheapest(runs), confirmed=top)
        best = max(ok, key=lambda i: sign * _nan_low(runs.stats(i).means[rank_metric], sign))
        return SearchResult("best_within_budget", recommended=best, confirmed=top)

    candidates = [p.index for p in plans if runs.stats(p.index).upper >= probability]
    candidates.sort(key=lambda i: (runs.stats(i).cost_mean, i))
    confirmed: list[int] = []
    accepted: int | None = None
    tried = 0
    queue = list(candidates)
    while queue:
        best_cost = runs.stats(accepted).cost_mean if accepted is not None else math.inf
        # A plan committing at least the accepted plan's expected cost cannot be cheaper.
        queue = [i for i in queue if runs.stats(i).cost_committed < best_cost]
        batch, queue = queue[:chunk], queue[chunk:]
        if not batch:
            break
        tried += len(batch)
        for n in stages(min(runs.stats(i).n for i in batch), replicates):
            runs.ensure(batch, n)
            # Drop plans the replicates so far rule out (upper bound below the probability).
            batch = [i for i in batch if runs.stats(i).upper >= probability]
            if not batch:
                break
        confirmed.extend(batch)
        for index in batch:
            s = runs.stats(index)
            if s.lower >= probability and (accepted is None or s.cost_mean < runs.stats(accepted).cost_mean):
                accepted = index
    result = SearchResult("feasible", confirmed=list(confirmed), candidates=len(candidates), tried=tried)
    if accepted is not None and _within(runs.stats(accepted), budget):
        result.recommended = accepted
        return result
    result.cheapest_reaching = accepted
    result.status = "infeasible_budget" if accepted is not None else "infeasible_targets"
    _best_achievable(result, runs, targets, budget, replicates)
    return result


def stages(start: int, replicates: int) -> list[int]:
    """Replicate counts a candidate is taken through: doubling from ``start``, ending at ``replicates``."""
    out = []
    n = max(1, start)
    while n * 2 < replicates:
        n *= 2
        out.append(n)
    out.append(replicates)
    return out


def _within(stats: PlanStats, budget: float | None) -> bool:
    """Whether a plan is within budget: the upper end of its expected cost's interval at most the budget."""
    return budget is None or stats.cost_hi <= budget


def _nan_low(value: float, sign: float) -> float:
    return value if np.isfinite(value) else -sign * math.inf


def _cheapest(runs: PlanOutcomes) -> int:
    return min(runs.plans, key=lambda p: (runs.stats(p.index).cost_mean, p.index)).index


def _likeliest(result: SearchResult, runs: Evaluator, pool: list[int], replicates: int) -> int | None:
    """Of ``pool``, the plan most likely to meet the targets (then the cheapest), confirmed in full."""
    if not pool:
        return None
    top = sorted(pool, key=lambda i: (-runs.stats(i).share, runs.stats(i).cost_mean))[:3]
    runs.ensure(top, replicates)
    result.confirmed.extend(i for i in top if i not in result.confirmed)
    return min(top, key=lambda i: (-runs.stats(i).share, runs.stats(i).cost_mean))


def _best_achievable(
    result: SearchResult,
    runs: Evaluator,
    targets: Sequence[Target],
    budget: float | None,
    replicates: int,
) -> None:
    """Fill in the best the grid can do: within budget, and overall."""
    every = [p.index for p in runs.plans]
    affordable = every if budget is None else [i for i in every if runs.stats(i).cost_mean <= budget]
    result.best_overall = _likeliest(result, runs, every, replicates)
    result.best_within_budget = (
        _likeliest(result, runs, affordable, replicates) if budget is not None else result.best_overall
    )
    for target in targets:
        pool = affordable if affordable else every
        sign = 1.0 if target.higher_is_better else -1.0
        best = max(pool, key=lambda i: sign * _nan_low(runs.stats(i).means[target.metric], sign))
        runs.ensure([best], replicates)  # report the best value at the full replicate count
        s = runs.stats(best)
        result.best_values_within_budget[target.text] = {
            "metric": target.metric,
            "value": s.means[target.metric],
            "plan": best,
            "replicates": s.n,
            "within_budget": bool(affordable),
        }
